/** Runs a contender process under GNU time: its wall time, CPU time and peak memory. */

/** What a contender process did and cost. */
export interface TimedRun {
  readonly code: number;
  readonly stdout: string;
  /** The end of its stderr, for a failure's message. */
  readonly stderrTail: string;
  /** From spawn to exit, startup included. */
  readonly wallSeconds: number;
  /** User + system CPU time of the process, all its threads. */
  readonly cpuSeconds: number;
  /** Peak resident set size. */
  readonly peakRssMib: number;
}

const TIME = "/usr/bin/time";
const STDERR_TAIL = 4000;

/**
 * Runs `command args` in `cwd` with only `env`, killing it after `timeoutMs`; resolves to what
 * it printed and what GNU time measured.
 */
export async function timedRun(
  command: string,
  args: readonly string[],
  options: { env: Record<string, string>; cwd: URL; timeoutMs: number },
): Promise<TimedRun> {
  const report = await Deno.makeTempFile({ prefix: "vaultline-bench-time-" });
  try {
    const started = performance.now();
    const child = new Deno.Command(TIME, {
      args: ["-f", "%U %S %M", "-o", report, command, ...args],
      cwd: options.cwd,
      env: options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // It already exited.
      }
    }, options.timeoutMs);
    let stderrTail = "";
    const [status, stdout] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      (async () => {
        for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
          stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
        }
      })(),
    ]).finally(() => clearTimeout(timer));
    const wallSeconds = (performance.now() - started) / 1000;
    // GNU time prints "Command exited with non-zero status N" first when it did.
    const last = (await Deno.readTextFile(report)).trim().split("\n").at(-1) ?? "";
    const [user, system, rssKib] = last.split(" ").map(Number);
    if (user === undefined || system === undefined || rssKib === undefined || isNaN(rssKib)) {
      throw new Error(`Cannot read the time of "${command}": GNU time wrote "${last}"`);
    }
    return {
      code: status.signal ? 128 : status.code,
      stdout,
      stderrTail,
      wallSeconds,
      cpuSeconds: user + system,
      peakRssMib: rssKib / 1024,
    };
  } finally {
    await Deno.remove(report);
  }
}
