/** Runs vaultline as a child process, the way a user does, with only the environment given. */

const ROOT = new URL("..", import.meta.url);

/** What a finished command printed and returned. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The permissions of the tasks in deno.json, and the V8 flag of `run` and of the binary. */
export const PERMISSIONS = [
  "--v8-flags=--max-semi-space-size=2",
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys",
];

/** An environment with nothing of the parent's but what Deno itself needs. */
export function cleanEnv(env: Record<string, string> = {}): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR"];
  const base = Object.fromEntries(
    keep.flatMap((k) => Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : []),
  );
  return { ...base, NO_COLOR: "1", ...env };
}

/** Runs `deno run main.ts ...args` in `cwd` (the project root by default), `stdin` as its input. */
export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string | URL; stdin?: string } = {},
): Promise<CliResult> {
  const main = new URL("main.ts", ROOT).pathname;
  return await runDeno(["run", ...PERMISSIONS, main, ...args], options);
}

/**
 * Starts `deno run main.ts ...args` in the background, its output piped; under `wrapper` (a
 * command and its arguments, such as `/usr/bin/time`) when given.
 */
export function spawnCli(
  args: readonly string[],
  options: { env?: Record<string, string>; wrapper?: readonly string[] } = {},
): Deno.ChildProcess {
  const main = new URL("main.ts", ROOT).pathname;
  const [command = Deno.execPath(), ...prefix] = options.wrapper ?? [];
  return new Deno.Command(command, {
    args: [
      ...prefix,
      ...(options.wrapper ? [Deno.execPath()] : []),
      "run",
      ...PERMISSIONS,
      main,
      ...args,
    ],
    cwd: ROOT,
    env: cleanEnv(options.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for `child` and decodes what it printed. */
export async function finished(child: Deno.ChildProcess): Promise<CliResult> {
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs `deno ...args` with a clean environment and `stdin` as its input (none by default). */
export async function runDeno(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string | URL; stdin?: string } = {},
): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [...args],
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  let output: Deno.CommandOutput;
  if (options.stdin === undefined) {
    output = await command.output();
  } else {
    const child = command.spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
    output = await child.output();
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** A running command whose output is collected as it comes, for a test to wait on. */
export interface WatchedCli {
  readonly child: Deno.ChildProcess;
  /** What it printed so far. */
  readonly output: { stdout: string; stderr: string };
  /** Settles once it exited and its output is read. */
  readonly finished: Promise<CliResult>;
}

/** Starts `deno run main.ts ...args` in the background, collecting its output as it comes. */
export function watchCli(
  args: readonly string[],
  options: { env?: Record<string, string>; wrapper?: readonly string[] } = {},
): WatchedCli {
  const child = spawnCli(args, options);
  const output = { stdout: "", stderr: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) output[into] += text;
  };
  const finished = Promise.all([
    child.status,
    collect(child.stdout, "stdout"),
    collect(child.stderr, "stderr"),
  ]).then(([status]) => ({ code: status.code, ...output }));
  return { child, output, finished };
}

/** Kills `child` with SIGKILL unless it already exited. */
export function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // It already exited.
  }
}
