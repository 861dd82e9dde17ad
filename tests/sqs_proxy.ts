/** An HTTP proxy in front of the SQS emulator that a test can make misbehave, one action at a time. */

/** Decides what to do with one SQS call: a response of its own, or undefined to forward it. */
export type Intercept = (
  action: string,
  body: Record<string, unknown>,
  forward: (body: Record<string, unknown>) => Promise<Response>,
) => Response | undefined | Promise<Response | undefined>;

/** Forwards SQS's JSON protocol to `target`, passing each call through `intercept` first. */
export class SqsProxy implements AsyncDisposable {
  readonly endpoint: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>) {
    this.#server = server;
    this.endpoint = `http://127.0.0.1:${server.addr.port}`;
  }

  static start(target: string, intercept: Intercept): SqsProxy {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const url = new URL(request.url);
        const headers = new Headers(request.headers);
        headers.delete("host");
        headers.delete("content-length");
        const text = await request.text();
        const action = request.headers.get("x-amz-target")?.split(".").at(-1) ?? "";
        const forward = async (body: Record<string, unknown>) => {
          const response = await fetch(`${target}${url.pathname}${url.search}`, {
            method: request.method,
            headers,
            body: JSON.stringify(body),
          });
          return new Response(await response.arrayBuffer(), {
            status: response.status,
            headers: response.headers,
          });
        };
        const body = text === "" ? {} : JSON.parse(text);
        return await intercept(action, body, forward) ?? await forward(body);
      },
    );
    return new SqsProxy(server);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

/**
 * An intercept that makes `DeleteMessageBatch` refuse the entries `refuse` picks, as SQS does
 * for a failed entry, and deletes the others.
 */
export function refuseDeletes(refuse: (receiptHandle: string) => boolean): Intercept {
  return async (action, body, forward) => {
    if (action !== "DeleteMessageBatch") return undefined;
    const entries = body.Entries as { Id: string; ReceiptHandle: string }[];
    // `refuse` is asked once per entry: it may decide differently the next time.
    const refused = entries.map((entry) => refuse(entry.ReceiptHandle));
    const failed = entries.filter((_, i) => refused[i]);
    const passed = entries.filter((_, i) => !refused[i]);
    const successful = passed.length === 0
      ? []
      : (await (await forward({ ...body, Entries: passed })).json()).Successful ?? [];
    return Response.json({
      Successful: successful,
      Failed: failed.map((entry) => ({
        Id: entry.Id,
        SenderFault: false,
        Code: "InternalError",
        Message: "injected by the test",
      })),
    }, { headers: { "content-type": "application/x-amz-json-1.0" } });
  };
}
