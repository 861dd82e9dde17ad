/** A helper process of the benchmark (emulator, database) that answers JSON lines on its stdin. */
import { jsonLines } from "./json_lines.ts";

/** How long a helper may take to start or to answer a command. */
const ANSWER_TIMEOUT_MS = 120_000;

/** A running helper; `close()` ends its stdin and waits for it to exit. */
export class ServerProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #lines: AsyncGenerator<unknown>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #name: string;

  private constructor(name: string, child: Deno.ChildProcess) {
    this.#name = name;
    this.#child = child;
    this.#lines = jsonLines(child.stdout);
    this.#writer = child.stdin.getWriter();
  }

  /** Starts `deno run ...permissions script`; resolves with it and its first line. */
  static async start(
    script: URL,
    { permissions, env }: { permissions: readonly string[]; env: Record<string, string> },
  ): Promise<{ server: ServerProcess; first: unknown }> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissions, script.pathname],
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const server = new ServerProcess(script.pathname.split("/").at(-1) ?? "helper", child);
    try {
      return { server, first: await server.#next() };
    } catch (error) {
      await server.close();
      throw error;
    }
  }

  /** Sends `command` as one line; resolves to the line it answers. */
  async request(command: unknown): Promise<unknown> {
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
    return await this.#next();
  }

  async #next(): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Cannot hear from "${this.#name}": no answer within deadline`)),
        ANSWER_TIMEOUT_MS,
      );
    });
    try {
      const line = await Promise.race([this.#lines.next(), timeout]);
      if (line.done) throw new Error(`Cannot hear from "${this.#name}": it exited`);
      return line.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends its stdin, so it exits; kills it when it has not exited within 10 s. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // It already exited.
      }
    }, 10_000);
    try {
      await this.#child.status;
      await this.#lines.return(undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
