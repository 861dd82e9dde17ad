/**
 * An embedded SQS emulator (fauxqs) on loopback, reached over HTTP like real SQS. The same
 * endpoint serves S3 too (path-style), for the archive.
 */
import { type FauxqsInitConfig, type FauxqsServer, startFauxqs } from "fauxqs";
import { SqsQueue } from "../queue/sqs_queue.ts";

/** The emulator accepts any credentials; these keep the SDK from looking for real ones. */
export const EMULATOR_CREDENTIALS = { accessKeyId: "vaultline", secretAccessKey: "vaultline" };

/** A running emulator; `close()` stops it, flushing its state to `dataDir` when one was given. */
export class EmbeddedSqs implements AsyncDisposable {
  readonly #server: FauxqsServer;

  private constructor(server: FauxqsServer) {
    this.#server = server;
  }

  /**
   * Starts the emulator, keeping its queues in `dataDir`, or in memory when it is undefined;
   * `init` creates queues as the emulator's container does from its init file.
   */
  static async start(
    options: { dataDir?: string | undefined; init?: FauxqsInitConfig | undefined } = {},
  ): Promise<EmbeddedSqs> {
    const server = await startFauxqs({
      port: 0,
      logger: false,
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.init === undefined ? {} : { init: options.init }),
    });
    return new EmbeddedSqs(server);
  }

  /** The HTTP endpoint, for `SQS_ENDPOINT`. */
  get endpoint(): string {
    return this.#server.address;
  }

  /** Creates the queue `name` unless it exists; returns its URL on this endpoint. */
  createQueue(name: string, attributes: Record<string, string> = {}): string {
    const [queue] = this.#server.setup({ queues: [{ name, attributes }] }).queues;
    if (!queue) throw new Error(`Cannot create queue "${name}" in the embedded SQS`);
    // Queue URLs name a *.localhost host; the loopback address needs no name resolution.
    return `${this.endpoint}${new URL(queue.url).pathname}`;
  }

  /** A client for queue `name`, created unless it exists. */
  openQueue(name: string, region = "us-east-1"): SqsQueue {
    return new SqsQueue(this.createQueue(name), {
      region,
      endpoint: this.endpoint,
      credentials: EMULATOR_CREDENTIALS,
    });
  }

  /** Creates the S3 bucket `name` unless it exists. */
  createBucket(name: string): void {
    this.#server.createBucket(name);
  }

  /** Sends `body` to queue `name` directly, without an SDK round trip. */
  sendMessage(name: string, body: string): string {
    return this.#server.sendMessage(name, body).messageId;
  }

  async close(): Promise<void> {
    await this.#server.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
