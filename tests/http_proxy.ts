/** An HTTP proxy in front of an emulator that a test can make misbehave, one request at a time. */

/** One request as the proxy sees it. */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly search: string;
}

/** Decides what to do with one request: a response of its own, or undefined to forward it. */
export type HttpIntercept = (
  request: ProxiedRequest,
) => Response | undefined | Promise<Response | undefined>;

/** Forwards every request to `target` unchanged, passing each through `intercept` first. */
export class HttpProxy implements AsyncDisposable {
  readonly endpoint: string;
  /** Requests seen, in order, as `METHOD path?search`. */
  readonly seen: string[];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>, seen: string[]) {
    this.#server = server;
    this.seen = seen;
    this.endpoint = `http://127.0.0.1:${server.addr.port}`;
  }

  static start(target: string, intercept: HttpIntercept = () => undefined): HttpProxy {
    const seen: string[] = [];
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const url = new URL(request.url);
        const body = await request.arrayBuffer();
        seen.push(`${request.method} ${url.pathname}${url.search}`);
        const own = await intercept({
          method: request.method,
          path: url.pathname,
          search: url.search,
        });
        if (own) return own;
        const headers = new Headers(request.headers);
        headers.delete("host");
        const response = await fetch(`${target}${url.pathname}${url.search}`, {
          method: request.method,
          headers,
          ...(body.byteLength > 0 ? { body } : {}),
        });
        return new Response(request.method === "HEAD" ? null : await response.arrayBuffer(), {
          status: response.status,
          headers: response.headers,
        });
      },
    );
    return new HttpProxy(server, seen);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}
