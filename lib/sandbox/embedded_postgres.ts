/** Embedded Postgres (PGlite) served on loopback, so it is reached by the same client as a real server. */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket";
import { createServer, type Server, type Socket } from "node:net";

/** An embedded database and its loopback listener; `close()` stops both. */
export class EmbeddedPostgres implements AsyncDisposable {
  readonly url: string;
  readonly #db: PGlite;
  readonly #server: Server;
  readonly #sockets: Set<Socket>;

  private constructor(db: PGlite, server: Server, sockets: Set<Socket>) {
    this.#db = db;
    this.#server = server;
    this.#sockets = sockets;
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  /**
   * Starts a database kept in `dataDir`, or in memory when it is undefined. `image` is a data
   * directory dumped by `dump()`, to skip initdb when starting many in-memory databases.
   */
  static async start(
    options: { dataDir?: string | undefined; image?: Blob | undefined } = {},
  ): Promise<EmbeddedPostgres> {
    const db = await PGlite.create({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.image === undefined ? {} : { loadDataDir: options.image }),
    });
    // pglite-socket's handler speaks the wire protocol; the scheduler below decides which
    // connection's messages run next on PGlite's single session.
    const queryQueue = new SessionScheduler(
      db,
    ) as unknown as PGLiteSocketHandlerOptions["queryQueue"];
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      new PGLiteSocketHandler({ queryQueue, closeOnDetach: true }).attach(socket)
        .catch(() => socket.destroy());
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
      });
    } catch (error) {
      await db.close();
      throw error;
    }
    return new EmbeddedPostgres(db, server, sockets);
  }

  /** A copy of the data directory, for `start({ image })`. */
  async dump(): Promise<Blob> {
    return await this.#db.dumpDataDir("none");
  }

  /** Stops listening, drops the connections and closes the database, flushing it to `dataDir`. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    await this.#db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

interface Message {
  readonly bytes: Uint8Array;
  readonly onData: (data: Uint8Array) => void;
}

interface Group {
  readonly connection: number;
  readonly messages: readonly Message[];
  readonly resolve: (bytes: number) => void;
  readonly reject: (error: unknown) => void;
}

/** Message types after which the client waits for an answer: Sync, Query, Flush, Terminate, CopyDone, CopyFail. */
const GROUP_ENDS = new Set(["S", "Q", "H", "X", "c", "f"].map((c) => c.charCodeAt(0)));

/**
 * Shares PGlite's one session between connections. A connection's messages run as a group up to
 * the point where it waits for an answer (Sync, Query, Flush), so the extended protocol's unnamed
 * statement and portal are never interleaved with another connection's; and while a transaction
 * is open, only the connection that opened it runs. (pglite-socket 0.2.17's own queue schedules
 * single messages, which lets two clients' Parse/Bind/Execute interleave: "portal does not exist".)
 * Implements the queue interface `PGLiteSocketHandler` calls.
 */
class SessionScheduler {
  readonly #db: PGlite;
  readonly #partial = new Map<number, Message[]>();
  #ready: Group[] = [];
  #owner: number | undefined;
  #running = false;

  constructor(db: PGlite) {
    this.#db = db;
  }

  enqueue(
    connection: number,
    bytes: Uint8Array,
    onData: (data: Uint8Array) => void,
  ): Promise<number> {
    const messages = this.#partial.get(connection) ?? [];
    messages.push({ bytes, onData });
    // A startup message has no type byte; its length's first byte is 0.
    const type = bytes[0] ?? 0;
    if (type !== 0 && !GROUP_ENDS.has(type)) {
      this.#partial.set(connection, messages);
      return Promise.resolve(0);
    }
    this.#partial.delete(connection);
    return new Promise((resolve, reject) => {
      this.#ready.push({ connection, messages, resolve, reject });
      void this.#drain();
    });
  }

  clearQueueForHandler(connection: number): void {
    this.#partial.delete(connection);
    const dropped = this.#ready.filter((group) => group.connection === connection);
    this.#ready = this.#ready.filter((group) => group.connection !== connection);
    for (const group of dropped) group.reject(new Error("Connection closed"));
  }

  async clearTransactionIfNeeded(connection: number): Promise<void> {
    if (this.#owner !== connection) return;
    if (this.#db.isInTransaction()) await this.#db.exec("ROLLBACK");
    this.#owner = undefined;
    await this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (true) {
        const owner = this.#owner;
        const index = owner === undefined
          ? 0
          : this.#ready.findIndex((group) => group.connection === owner);
        const group = index < 0 ? undefined : this.#ready.splice(index, 1)[0];
        if (!group) return;
        try {
          let bytes = 0;
          await this.#db.runExclusive(async () => {
            for (const message of group.messages) {
              await this.#db.execProtocolRawStream(message.bytes, {
                onRawData: (data) => {
                  bytes += data.length;
                  message.onData(data);
                },
              });
            }
          });
          this.#owner = this.#db.isInTransaction() ? group.connection : undefined;
          group.resolve(bytes);
        } catch (error) {
          group.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
