/**
 * The SQS edge: receive, delete, extend visibility, measure depth, send. Every failure leaves it
 * classified (`sqs_error.ts`), never as the SDK's own error.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { InboundMessage } from "../record/parse_message.ts";
import { classifySqsError } from "./sqs_error.ts";

/** A received message and the handle that deletes it. */
export interface QueueMessage extends InboundMessage {
  readonly receiptHandle: string;
}

/** Messages in the queue by state, as SQS approximates them. */
export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

/** SQS's limit of entries per batch call and messages per receive. */
export const SQS_BATCH_MAX = 10;

/** Where the SDK reaches a queue; plain data, so another thread can open the same queue. */
export interface SqsQueueOptions {
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/** A queue reached through the AWS SDK. */
export class SqsQueue {
  readonly url: string;
  readonly options: SqsQueueOptions;
  readonly #client: SQSClient;

  /** Without `credentials`, the AWS SDK's default chain (environment, profile, role) applies. */
  constructor(url: string, options: SqsQueueOptions) {
    this.url = url;
    this.options = options;
    this.#client = new SQSClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
  }

  /** Receives up to `max` messages, waiting up to `waitSeconds` for the first. */
  async receive(options: {
    max: number;
    waitSeconds: number;
    visibilitySeconds: number;
    signal?: AbortSignal | undefined;
  }): Promise<QueueMessage[]> {
    const output = await this.#call(
      "receive messages",
      (client) =>
        client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.url,
            MaxNumberOfMessages: options.max,
            WaitTimeSeconds: options.waitSeconds,
            VisibilityTimeout: options.visibilitySeconds,
            MessageSystemAttributeNames: ["SentTimestamp"],
          }),
          options.signal ? { abortSignal: options.signal } : {},
        ),
    );
    const receivedAt = Date.now();
    return (output.Messages ?? []).flatMap((message) => {
      if (!message.MessageId || !message.ReceiptHandle) return [];
      const sent = Number(message.Attributes?.SentTimestamp);
      return [{
        messageId: message.MessageId,
        receiptHandle: message.ReceiptHandle,
        body: message.Body ?? "",
        sentAt: new Date(Number.isFinite(sent) ? sent : receivedAt),
      }];
    });
  }

  /** Deletes `messages`; returns those SQS did not delete. */
  async delete(
    messages: readonly QueueMessage[],
    { signal }: { signal?: AbortSignal | undefined } = {},
  ): Promise<QueueMessage[]> {
    return await inBatches(messages, async (chunk) => {
      const output = await this.#call("delete messages", (client) =>
        client.send(
          new DeleteMessageBatchCommand({ QueueUrl: this.url, Entries: receiptEntries(chunk) }),
          signal ? { abortSignal: signal } : {},
        ));
      return (output.Failed ?? []).map((failure) => Number(failure.Id));
    });
  }

  /** Makes `messages` invisible for `seconds` more; returns those SQS refused. */
  async extendVisibility(
    messages: readonly QueueMessage[],
    seconds: number,
    { signal }: { signal?: AbortSignal | undefined } = {},
  ): Promise<QueueMessage[]> {
    return await inBatches(messages, async (chunk) => {
      const output = await this.#call("change message visibility", (client) =>
        client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.url,
            Entries: receiptEntries(chunk).map((entry) => ({
              ...entry,
              VisibilityTimeout: seconds,
            })),
          }),
          signal ? { abortSignal: signal } : {},
        ));
      return (output.Failed ?? []).map((failure) => Number(failure.Id));
    });
  }

  /** The queue's visible, in-flight and delayed message counts. */
  async depth({ signal }: { signal?: AbortSignal | undefined } = {}): Promise<QueueDepth> {
    const output = await this.#call("read the queue's depth", (client) =>
      client.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.url,
          AttributeNames: [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
          ],
        }),
        signal ? { abortSignal: signal } : {},
      ));
    const attributes: Record<string, string | undefined> = output.Attributes ?? {};
    return {
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  /** Sends `bodies`, ten to a call; throws when SQS refuses any. */
  async send(bodies: readonly string[]): Promise<void> {
    const refused = await inBatches(bodies, async (chunk) => {
      const output = await this.#call("send messages", (client) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.url,
            Entries: chunk.map((body, i) => ({ Id: String(i), MessageBody: body })),
          }),
        ));
      return (output.Failed ?? []).map((failure) => Number(failure.Id));
    });
    if (refused.length > 0) {
      throw new Error(`Cannot send to queue "${this.url}": SQS refused ${refused.length} messages`);
    }
  }

  /** Closes the client's connections. */
  close(): void {
    this.#client.destroy();
  }

  /** Runs one SDK call; a failure leaves as a `ClassifiedError`, without the SDK's text. */
  async #call<T>(action: string, call: (client: SQSClient) => Promise<T>): Promise<T> {
    try {
      return await call(this.#client);
    } catch (error) {
      throw classifySqsError(error, { action, queueUrl: this.url });
    }
  }
}

/** Calls in flight at once when a list spans many batch calls. */
const PARALLEL_CALLS = 16;

/**
 * Calls `action` on chunks of at most ten items, several calls at once; `action` returns the
 * indexes within its chunk that SQS refused. Resolves to the refused items.
 */
async function inBatches<T>(
  items: readonly T[],
  action: (chunk: T[]) => Promise<number[]>,
): Promise<T[]> {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += SQS_BATCH_MAX) {
    chunks.push(items.slice(start, start + SQS_BATCH_MAX));
  }
  const refused: T[] = [];
  let next = 0;
  const worker = async () => {
    for (let chunk = chunks[next++]; chunk; chunk = chunks[next++]) {
      for (const index of await action(chunk)) {
        const item = chunk[index];
        if (item !== undefined) refused.push(item);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_CALLS, chunks.length) }, worker));
  return refused;
}

function receiptEntries(messages: readonly QueueMessage[]) {
  return messages.map((message, i) => ({ Id: String(i), ReceiptHandle: message.receiptHandle }));
}
