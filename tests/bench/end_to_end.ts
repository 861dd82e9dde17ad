/**
 * `deno task bench`: the ingest end to end against the queue's own ceiling and the exercise's
 * typical loop, each contender a process of its own, seeded with the same messages, draining an
 * SQS emulator in another process into a fresh database. Run with `--help` for the options.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { SqsQueue } from "../../lib/queue/sqs_queue.ts";
import { EMULATOR_CREDENTIALS } from "../../lib/sandbox/embedded_sqs.ts";
import { migrate } from "../../lib/store/migrate.ts";
import { createKeyrings, writeKeyrings } from "../../lib/vault/keyring.ts";
import { type BenchDatabases, pgliteDatabases, postgresDatabases } from "./bench_database.ts";
import { type Corpus, parseCorpus } from "./corpus.ts";
import { NAIVE_TABLE_SQL } from "./naive_drain.ts";
import { medianResults, printTable, type RunFigures } from "./report.ts";
import { ServerProcess } from "./server_process.ts";
import { timedRun } from "./timed_process.ts";

const HELP = `Usage: deno task bench [--n N] [--naive-n N] [--rounds R] [--concurrency N]
                       [--corpus sample,unique] [--workers LIST] [--pglite] [--json]

Drains N messages with each contender, each in a process of its own, against an SQS emulator
in another process and a fresh database per run (DATABASE_URL's server, or --pglite):
  raw        the ingest's SQS client receiving 10 and deleting in batches, no processing,
             at the same concurrency: the ceiling
  naive      receive one, insert one row, commit, delete one: the floor (--naive-n messages)
  vaultline  main.ts run --until-empty --json with the run task's permissions, startup included
Rates are messages over the process's wall time, CPU is its user + system time (GNU time, all
threads), peak RSS its maximum resident set. Contenders are interleaved; figures are medians.

Options:
  --n N              messages per raw and vaultline run (default 50000)
  --naive-n N        messages per naive run (default 5000; its figure is a rate)
  --rounds R         repeats of every contender (default 1)
  --concurrency N    receivers of raw and vaultline (default 4, what run defaults to)
  --corpus LIST      sample (the sample queue repeated), unique (generated) (default both)
  --workers LIST     run vaultline once per value with --workers N, e.g. 1,2
  --pglite           embedded PGlite in its own process instead of DATABASE_URL
  --json             print one JSON object instead of the table`;

const ROOT = new URL("../../", import.meta.url);
const HERE = new URL("./", import.meta.url);

/** `run`'s default receivers (lib/cli/run.ts). */
const RUN_CONCURRENCY = 4;

/** What one invocation measures. */
interface BenchOptions {
  readonly n: number;
  readonly naiveN: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly corpora: readonly Corpus[];
  readonly workers: readonly number[] | undefined;
  readonly pglite: boolean;
  readonly json: boolean;
}

/** One contender: how it is labelled and how its process is started. */
interface Contender {
  readonly kind: "raw" | "naive" | "vaultline";
  readonly label: string;
  readonly workers: number | undefined;
}

/** What a contender run needs from the harness. */
interface Services {
  readonly sqs: ServerProcess;
  readonly endpoint: string;
  readonly databases: BenchDatabases;
  readonly keyring: string;
  readonly runPermissions: readonly string[];
  readonly baseEnv: Record<string, string>;
  /** Aborts on SIGINT or SIGTERM: the contender running is killed. */
  readonly stop: AbortSignal;
}

function parseOptionsOf(args: readonly string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      n: { type: "string" },
      "naive-n": { type: "string" },
      rounds: { type: "string" },
      concurrency: { type: "string" },
      corpus: { type: "string" },
      workers: { type: "string" },
      pglite: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  const integer = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Cannot use --${name} "${value}": expected a positive integer`);
    }
    return n;
  };
  const list = (value: string) => value.split(",").map((item) => item.trim()).filter(Boolean);
  return {
    n: integer("n", values.n, 50_000),
    naiveN: integer("naive-n", values["naive-n"], 5_000),
    rounds: integer("rounds", values.rounds, 1),
    concurrency: integer("concurrency", values.concurrency, RUN_CONCURRENCY),
    corpora: [...new Set(list(values.corpus ?? "sample,unique").map(parseCorpus))],
    workers: values.workers === undefined
      ? undefined
      : list(values.workers).map((w) => integer("workers", w, 1)),
    pglite: values.pglite === true,
    json: values.json === true,
  };
}

/** The permission flags of the `run` task in deno.json, `$HOME` expanded as the task shell does. */
async function runTaskPermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const task: string = config.tasks.run;
  const words = task.replaceAll("$HOME", Deno.env.get("HOME") ?? "").split(/\s+/);
  const start = words.indexOf("run") + 1;
  const end = words.indexOf("main.ts");
  if (start === 0 || end < start) {
    throw new Error('Cannot read the run task of "deno.json": expected "deno run ... main.ts run"');
  }
  return words.slice(start, end);
}

function contendersOf(options: BenchOptions): Contender[] {
  const vaultline: Contender[] = options.workers === undefined
    ? [{ kind: "vaultline", label: "vaultline", workers: undefined }]
    : options.workers.map((workers) => ({
      kind: "vaultline",
      label: `vaultline (${workers} worker${workers === 1 ? "" : "s"})`,
      workers,
    }));
  return [
    { kind: "raw", label: "raw", workers: undefined },
    { kind: "naive", label: "naive", workers: undefined },
    ...vaultline,
  ];
}

/** A deadline generous for a slow machine: a minute plus 10 ms a message. */
function timeoutFor(count: number): number {
  return 60_000 + count * 10;
}

let queues = 0;

/** Seeds a new queue with `count` messages of `corpus`, prepares a database, runs `contender`. */
async function runContender(
  contender: Contender,
  { corpus, count, options, services }: {
    corpus: Corpus;
    count: number;
    options: BenchOptions;
    services: Services;
  },
): Promise<RunFigures> {
  const queue = `bench-${contender.kind}-${corpus}-${++queues}`;
  const { queueUrl } = (await services.sqs.request({ seed: { queue, corpus, count } })) as {
    queueUrl: string;
  };
  const databaseUrl = await services.databases.fresh();
  const setup = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    if (contender.kind === "naive") await setup.unsafe(NAIVE_TABLE_SQL);
    if (contender.kind === "vaultline") await migrate(setup);
  } finally {
    await setup.end({ timeout: 5 });
  }
  const script = (name: string) => new URL(name, HERE).pathname;
  const [command, args] = contender.kind === "raw"
    ? ["run", [
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      script("raw_drain.ts"),
      `--queue-url=${queueUrl}`,
      `--endpoint=${services.endpoint}`,
      `--count=${count}`,
      `--concurrency=${options.concurrency}`,
    ]]
    : contender.kind === "naive"
    ? ["run", [
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      script("naive_drain.ts"),
      `--queue-url=${queueUrl}`,
      `--endpoint=${services.endpoint}`,
      `--database-url=${databaseUrl}`,
      `--count=${count}`,
    ]]
    : ["run", [
      ...services.runPermissions,
      "main.ts",
      "run",
      "--until-empty",
      "--json",
      `--concurrency=${options.concurrency}`,
      ...(contender.workers === undefined ? [] : [`--workers=${contender.workers}`]),
    ]];
  const env = {
    ...services.baseEnv,
    DATABASE_URL: databaseUrl,
    SQS_QUEUE_URL: queueUrl,
    SQS_ENDPOINT: services.endpoint,
    VAULT_KEYRING: services.keyring,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    AWS_REGION: "us-east-1",
  };
  const sqsCpuBefore = await emulatorCpuSeconds(services.sqs);
  const run = await timedRun(Deno.execPath(), [command, ...args], {
    env,
    cwd: ROOT,
    timeoutMs: timeoutFor(count),
    signal: services.stop,
  });
  const sqsCpuSeconds = (await emulatorCpuSeconds(services.sqs)) - sqsCpuBefore;
  if (run.code !== 0) {
    throw new Error(
      `Cannot run contender "${contender.label}" on corpus "${corpus}": exit code ${run.code}:\n` +
        run.stderrTail,
    );
  }
  const drained = await drainedCount(contender, {
    run: run.stdout,
    databaseUrl,
    queueUrl,
    services,
  });
  if (drained !== count) {
    throw new Error(
      `Cannot trust contender "${contender.label}" on corpus "${corpus}": it drained ${drained} ` +
        `messages, not ${count}`,
    );
  }
  return {
    corpus,
    contender: contender.label,
    kind: contender.kind,
    messages: drained,
    wallSeconds: run.wallSeconds,
    cpuSeconds: run.cpuSeconds,
    sqsCpuSeconds,
    peakRssMib: run.peakRssMib,
    reportedSeconds: lastLine(run.stdout).seconds,
  };
}

/**
 * How many messages the run took off the queue and kept: raw's deletes with the queue left
 * empty, naive's rows, vaultline's rows plus quarantined messages.
 */
async function drainedCount(
  contender: Contender,
  { run, databaseUrl, queueUrl, services }: {
    run: string;
    databaseUrl: string;
    queueUrl: string;
    services: Services;
  },
): Promise<number> {
  if (contender.kind === "raw") {
    const queue = new SqsQueue(queueUrl, {
      region: "us-east-1",
      endpoint: services.endpoint,
      credentials: EMULATOR_CREDENTIALS,
    });
    try {
      const depth = await queue.depth();
      if (depth.visible + depth.inFlight + depth.delayed > 0) return -1;
    } finally {
      queue.close();
    }
    return lastLine(run).deleted ?? -1;
  }
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = contender.kind === "naive"
      ? await sql`SELECT count(*)::int AS n FROM user_logins`
      : await sql`
        SELECT (SELECT count(*) FROM user_logins)::int
             + (SELECT count(*) FROM ingest_quarantine)::int AS n`;
    return Number(row?.n ?? -1);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The last line a contender printed: raw's and naive's report, vaultline's summary. */
function lastLine(stdout: string): { deleted?: number; seconds: number } {
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
}

/** CPU seconds the emulator's process has used so far, as it reports them. */
async function emulatorCpuSeconds(sqs: ServerProcess): Promise<number> {
  return ((await sqs.request({ cpu: true })) as { cpuSeconds: number }).cpuSeconds;
}

/** An environment with nothing of the parent's but what Deno itself needs. */
function baseEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR"];
  return {
    ...Object.fromEntries(keep.flatMap((k) => Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : [])),
    NO_COLOR: "1",
  };
}

async function main(args: readonly string[]): Promise<number> {
  const options = parseOptionsOf(args);
  if (!options) {
    console.log(HELP);
    return 0;
  }
  const serverUrl = Deno.env.get("DATABASE_URL") || undefined;
  if (!options.pglite && serverUrl === undefined) {
    throw new RangeError("Cannot choose a database: set DATABASE_URL, or pass --pglite");
  }
  const env = baseEnv();
  // Contenders run in sessions of their own, out of reach of a terminal's Ctrl-C.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  const dir = await Deno.makeTempDir({ prefix: "vaultline-bench-" });
  try {
    const keyring = `${dir}/ingest.keyring.json`;
    await writeKeyrings([{ path: keyring, file: (await createKeyrings()).ingest }]);
    await using databases = options.pglite
      ? await pgliteDatabases(env)
      : postgresDatabases(serverUrl ?? "");
    const started = await ServerProcess.start(new URL("sqs_server.ts", HERE), {
      permissions: ["--allow-net", "--allow-read", "--allow-env", "--allow-sys"],
      env,
    });
    await using sqs = started.server;
    const services: Services = {
      sqs,
      endpoint: (started.first as { endpoint: string }).endpoint,
      databases,
      keyring,
      runPermissions: await runTaskPermissions(),
      baseEnv: env,
      stop: stop.signal,
    };
    const runs: RunFigures[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const corpus of options.corpora) {
        for (const contender of contendersOf(options)) {
          const count = contender.kind === "naive" ? options.naiveN : options.n;
          if (!options.json) {
            console.error(
              `round ${round}/${options.rounds}: ${contender.label}, ${corpus}, ${count}`,
            );
          }
          runs.push(await runContender(contender, { corpus, count, options, services }));
        }
      }
    }
    const results = medianResults(runs);
    const summary = {
      n: options.n,
      naiveN: options.naiveN,
      rounds: options.rounds,
      concurrency: options.concurrency,
      database: databases.kind,
      corpora: options.corpora,
      ...results,
      runs,
    };
    if (options.json) console.log(JSON.stringify(summary));
    else printTable(summary);
    return 0;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exitCode = 1;
  }
}
