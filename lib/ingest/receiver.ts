/** The receiving stage: long-polling receivers that pause while the in-flight ledger is full. */
import { isPermanent } from "../failure.ts";
import { SQS_BATCH_MAX, type SqsQueue } from "../queue/sqs_queue.ts";
import type { Batcher } from "./batcher.ts";
import { backoff, type Clock } from "./clock.ts";
import { failureOf, type IngestEvent } from "./events.ts";
import type { InFlight } from "./in_flight.ts";
import type { MessageQuota } from "./quota.ts";

/** What the receivers share. */
export interface ReceiverParts {
  readonly queue: SqsQueue;
  readonly inFlight: InFlight;
  readonly batcher: Batcher;
  readonly clock: Clock;
  readonly emit: (event: IngestEvent) => void;
  /** Called with a permanent failure (the queue is missing, access denied): the run must end. */
  readonly fail: (error: unknown) => void;
}

/** How the receivers run. */
export interface ReceiverOptions {
  readonly concurrency: number;
  readonly visibilitySeconds: number;
  /** Stop once the queue holds no visible, in-flight or delayed message. */
  readonly untilEmpty: boolean;
  /** What `--max-messages` leaves to receive. */
  readonly quota: MessageQuota;
  /** Receivers stop when it aborts; they abort it themselves once the queue is drained. */
  readonly stop: AbortController;
}

/** Runs `concurrency` receivers until `stop` aborts, the quota is used, or the queue is drained. */
export async function receiveMessages(
  parts: ReceiverParts,
  options: ReceiverOptions,
): Promise<void> {
  const { queue, inFlight, batcher, clock, emit, fail } = parts;
  const { signal } = options.stop;
  const { quota } = options;

  const drained = async (): Promise<boolean> => {
    try {
      const depth = await queue.depth({ signal });
      return depth.visible === 0 && depth.inFlight === 0 && depth.delayed === 0;
    } catch (error) {
      if (signal.aborted) return false;
      if (isPermanent(error)) fail(error);
      else {emit({
          type: "retry",
          stage: "depth",
          attempt: 1,
          delayMs: 0,
          count: 0,
          ...failureOf(error),
        });}
      return false;
    }
  };

  const receiver = async (): Promise<void> => {
    for (let failures = 0; !signal.aborted;) {
      if (inFlight.full) {
        await inFlight.waitForRoom(signal);
        continue;
      }
      const max = quota.take(SQS_BATCH_MAX);
      if (max <= 0) return;
      let messages;
      try {
        messages = await queue.receive({
          max,
          // A drain checks for emptiness after each empty receive; following waits the longest.
          waitSeconds: options.untilEmpty ? 1 : 20,
          visibilitySeconds: options.visibilitySeconds,
          signal,
        });
        failures = 0;
      } catch (error) {
        quota.giveBack(max);
        if (signal.aborted) return;
        if (isPermanent(error)) return fail(error);
        const delayMs = backoff(++failures);
        emit({
          type: "retry",
          stage: "receive",
          attempt: failures,
          delayMs,
          count: 0,
          ...failureOf(error),
        });
        await clock.sleep(delayMs, signal);
        continue;
      }
      quota.giveBack(max - messages.length);
      inFlight.add(messages, clock.now() + options.visibilitySeconds * 1000);
      batcher.push(messages);
      const bytes = messages.reduce((sum, message) => sum + message.body.length, 0);
      emit({ type: "received", count: messages.length, bytes });
      if (messages.length === 0) {
        // Nothing more for now: the partial batch need not wait for company.
        batcher.flush();
        if (options.untilEmpty) {
          // A drain waits for what it holds to be written and deleted, rather than polling
          // again, then asks SQS whether anything is left anywhere.
          await inFlight.waitUntilEmpty(signal);
          if (!signal.aborted && await drained()) options.stop.abort();
        }
      }
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, receiver));
}
