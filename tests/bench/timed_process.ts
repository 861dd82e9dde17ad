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
 * Runs `command args` in `cwd` with only `env`, killing it after `timeoutMs` or once `signal`
 * aborts; resolves to what it printed and what GNU time measured.
 */
export async function timedRun(
  command: string,
  args: readonly string[],
  options: { env: Record<string, string>; cwd: URL; timeoutMs: number; signal: AbortSignal },
): Promise<TimedRun> {
  const report = await Deno.makeTempFile({ prefix: "vaultline-bench-time-" });
  try {
    const started = performance.now();
    // A session of its own, so a kill reaches the command too, not only GNU time.
    const child = new Deno.Command("setsid", {
      args: [TIME, "-f", "%U %S %M", "-o", report, command, ...args],
      cwd: options.cwd,
      env: options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const kill = () => {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // It already exited.
      }
    };
    const timer = setTimeout(kill, options.timeoutMs);
    options.signal.addEventListener("abort", kill, { once: true });
    let stderrTail = "";
    const [status, stdout] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      (async () => {
        for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
          stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
        }
      })(),
    ]).finally(() => {
      clearTimeout(timer);
      options.signal.removeEventListener("abort", kill);
    });
    const wallSeconds = (performance.now() - started) / 1000;
    if (options.signal.aborted) throw new Error(`Cannot run "${command}": interrupted`);
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
