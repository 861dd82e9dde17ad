/** A loopback TCP proxy a test can cut and restore, to take a server away mid-run. */

/** Forwards 127.0.0.1:`port` to a target port while it is not cut. */
export class TcpProxy implements AsyncDisposable {
  readonly port: number;
  readonly #target: number;
  readonly #connections = new Set<Deno.Conn>();
  readonly #pipes = new Set<Promise<void>>();
  #listener: Deno.Listener | undefined;
  #accepting: Promise<void> | undefined;

  private constructor(port: number, target: number) {
    this.port = port;
    this.#target = target;
  }

  /** Starts forwarding a new loopback port to `target`. */
  static start(target: number): TcpProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = new TcpProxy((listener.addr as Deno.NetAddr).port, target);
    proxy.#listen(listener);
    return proxy;
  }

  /** Closes every connection and refuses new ones. */
  async cut(): Promise<void> {
    this.#listener?.close();
    this.#listener = undefined;
    for (const connection of this.#connections) closeQuietly(connection);
    this.#connections.clear();
    await this.#accepting;
    await Promise.all(this.#pipes);
  }

  /** Accepts connections again on the same port; a no-op while it is not cut. */
  restore(): void {
    if (this.#listener) return;
    this.#listen(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cut();
  }

  #listen(listener: Deno.Listener): void {
    this.#listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const client of listener) this.#forward(client);
      } catch {
        // The listener was closed by cut().
      }
    })();
  }

  #forward(client: Deno.Conn): void {
    this.#connections.add(client);
    const pipe = (async () => {
      let server: Deno.Conn | undefined;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
        this.#connections.add(server);
        await Promise.all([
          client.readable.pipeTo(server.writable),
          server.readable.pipeTo(client.writable),
        ]);
      } catch {
        // Either side closed, or cut() closed both.
      } finally {
        for (const connection of [client, server]) {
          if (connection && this.#connections.delete(connection)) closeQuietly(connection);
        }
      }
    })();
    this.#pipes.add(pipe);
    pipe.finally(() => this.#pipes.delete(pipe));
  }
}

/** Closes `connection` unless a finished pipe already did. */
function closeQuietly(connection: Deno.Conn): void {
  try {
    connection.close();
  } catch {
    // Already closed.
  }
}
