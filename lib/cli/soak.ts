/** `vaultline soak`: a long drain of generated messages, with throughput over time and peak memory. */
import { ConfigError } from "../config_error.ts";
import type { IngestEvent } from "../ingest/events.ts";
import { ingest } from "../ingest/ingest.ts";
import { prepareDatabase } from "../ingest/prepare_database.ts";
import type { SqsQueue } from "../queue/sqs_queue.ts";
import { keyringPath, readSettings, type Settings } from "../settings.ts";
import { closeDatabase, connectDatabase, type Database } from "../store/database.ts";
import { dataKeySource } from "../ingest/data_keys.ts";
import { createKeyrings, importKeyring, type Keyring } from "../vault/keyring.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { loadKeyring, openQueue } from "./services.ts";

/** What `soak` was asked to do. */
export interface SoakOptions {
  readonly settings: Settings;
  readonly count: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly reportSeconds: number;
  /** The ingest keyring of a deployment; undefined for a fresh one in memory. */
  readonly keyringPath: string | undefined;
}

/** Messages the producer keeps queued ahead of the ingest, so the queue stays a steady size. */
const BACKLOG = 50_000;
const CHUNK = 10_000;

export const soak = defineCommand<SoakOptions>({
  name: "soak",
  summary: "Drain generated messages at length: throughput over time, peak memory",
  help: `Usage: vaultline soak [--count N] [--batch-size N] [--concurrency N] [--seed N]
                     [--report-every SECONDS]

Generates N login messages (2% malformed), feeds them to the queue while the ingest drains
it, and prints the throughput every few seconds, then the total and the peak resident memory
of this process. Checks at the end that rows + quarantine = N.

  nothing set            a throwaway sandbox: embedded Postgres in a temporary directory and
                         an in-memory SQS, both in this process, removed at the end
  DATABASE_URL only      that database (rows are added to it) and an in-memory SQS
  both, and VAULT_KEYRING
                         that queue (which should start empty) and that database

Options:
  --count N              messages (default 1000000)
  --batch-size N         messages per transaction (default 500)
  --concurrency N        receivers (default 4)
  --seed N               generator seed (default 1)
  --report-every SECONDS a progress line this often (default 10)
  --keyring FILE         the ingest keyring for a given queue (default VAULT_KEYRING)
  -h, --help             show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      count: { type: "string" },
      "batch-size": { type: "string" },
      concurrency: { type: "string" },
      seed: { type: "string" },
      "report-every": { type: "string" },
      keyring: { type: "string" },
    });
    const settings = readSettings(env);
    const deployedQueue = settings.mode === "deployed" && settings.queue !== undefined;
    if (deployedQueue && settings.databaseUrl === undefined) {
      throw new ConfigError("Missing DATABASE_URL: a soak on a given queue needs a database too");
    }
    return {
      settings,
      count: parseInteger("--count", asString(values.count), {
        min: 1,
        max: 100_000_000,
        fallback: 1_000_000,
      }),
      batchSize: parseInteger("--batch-size", asString(values["batch-size"]), {
        min: 1,
        max: 1000,
        fallback: 500,
      }),
      concurrency: parseInteger("--concurrency", asString(values.concurrency), {
        min: 1,
        max: 64,
        fallback: 4,
      }),
      seed: parseInteger("--seed", asString(values.seed), {
        min: 1,
        max: 2 ** 32 - 1,
        fallback: 1,
      }),
      reportSeconds: parseInteger("--report-every", asString(values["report-every"]), {
        min: 1,
        max: 3600,
        fallback: 10,
      }),
      keyringPath: deployedQueue
        ? keyringPath(settings, {
          flag: asString(values.keyring),
          sandboxName: "ingest.keyring.json",
          kind: "ingest keyring",
        })
        : undefined,
    };
  },

  async execute(options) {
    const { generateLogins, seededRandom } = await import("../sandbox/generate_logins.ts");
    await using target = await openTarget(options);
    const keyring = options.keyringPath === undefined
      ? await importKeyring((await createKeyrings()).ingest)
      : await loadKeyring(options.keyringPath, { kind: "ingest" });
    const db = connectDatabase(target.databaseUrl, { max: 1 });
    try {
      await prepareDatabase(db);
      const before = await written(db);
      const random = seededRandom(options.seed);
      console.log(`Soak: ${options.count} messages, ${target.description}`);
      let sent = 0;
      let done = 0;
      const onEvent = (event: IngestEvent) => {
        if (event.type === "batchWritten") {
          done += event.inserted + event.quarantined + event.duplicates;
        }
      };
      const producing = (async () => {
        while (sent < options.count) {
          if (sent - done >= BACKLOG) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            continue;
          }
          const bodies = generateLogins(Math.min(CHUNK, options.count - sent), {
            malformedShare: 0.02,
            random,
          });
          await target.send(bodies);
          sent += bodies.length;
        }
      })();
      const report = reporter(options.reportSeconds, () => done);
      let summary;
      try {
        summary = await ingest({
          queue: target.queue,
          connect: () => connectDatabase(target.databaseUrl, { max: 2 }),
          vault: vaultOf(keyring),
        }, {
          concurrency: options.concurrency,
          batchSize: options.batchSize,
          untilEmpty: false,
          maxMessages: options.count,
          onEvent,
        });
        await producing;
      } finally {
        report.stop();
      }
      const added = (await written(db)) - before;
      const rate = summary.received / Math.max(summary.seconds, 0.001);
      console.log(
        `Soak: ${summary.received} messages in ${summary.seconds.toFixed(1)}s, ` +
          `${rate.toFixed(0)}/s; ${summary.inserted} rows, ${summary.quarantined} quarantined, ` +
          `${summary.duplicates} duplicates; peak resident memory ${
            report.peakMib().toFixed(0)
          } MiB`,
      );
      if (added !== options.count) {
        console.error(`vaultline: rows + quarantine grew by ${added}, not ${options.count}`);
        return 1;
      }
      return 0;
    } finally {
      await closeDatabase(db);
    }
  },
});

/** Where a soak runs: a database, a queue, and a way to fill it. */
interface SoakTarget extends AsyncDisposable {
  readonly databaseUrl: string;
  readonly queue: SqsQueue;
  readonly send: (bodies: readonly string[]) => Promise<void>;
  readonly description: string;
}

async function openTarget(options: SoakOptions): Promise<SoakTarget> {
  const { settings } = options;
  if (settings.mode === "deployed" && settings.queue !== undefined) {
    const queue = openQueue(settings.queue);
    return {
      databaseUrl: settings.databaseUrl ?? "",
      queue,
      send: (bodies) => queue.send(bodies),
      description: `queue "${settings.queue.url}" into DATABASE_URL`,
      [Symbol.asyncDispose]: () => Promise.resolve(queue.close()),
    };
  }
  const { EmbeddedSqs } = await import("../sandbox/embedded_sqs.ts");
  const { EmbeddedPostgres } = await import("../sandbox/embedded_postgres.ts");
  const sqs = await EmbeddedSqs.start();
  const name = "soak-queue";
  const queue = sqs.openQueue(name);
  const dir = settings.mode === "sandbox"
    ? await Deno.makeTempDir({ prefix: "vaultline-soak-" })
    : undefined;
  const database = dir === undefined ? undefined : await EmbeddedPostgres.start({ dataDir: dir });
  return {
    databaseUrl: database?.url ?? (settings.mode === "deployed" ? settings.databaseUrl : "") ?? "",
    queue,
    send: (bodies) => {
      for (const body of bodies) sqs.sendMessage(name, body);
      return Promise.resolve();
    },
    description: database
      ? `embedded Postgres in "${dir}" and an in-memory SQS, in this process`
      : "an in-memory SQS, in this process, into DATABASE_URL",
    async [Symbol.asyncDispose]() {
      queue.close();
      await sqs.close();
      await database?.close();
      if (dir !== undefined) await Deno.remove(dir, { recursive: true });
    },
  };
}

function vaultOf(keyring: Keyring) {
  return { tokenKey: keyring.tokenKey, dataKey: dataKeySource(keyring.keks[0]) };
}

async function written(db: Database): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    SELECT (SELECT count(*) FROM user_logins) + (SELECT count(*) FROM ingest_quarantine) AS n`;
  return Number(row?.n ?? 0);
}

/** Prints a progress line every `seconds` and keeps the peak resident memory. */
function reporter(seconds: number, done: () => number) {
  const started = performance.now();
  let last = { at: started, done: 0 };
  let peak = 0;
  const sample = () => (peak = Math.max(peak, residentMib()));
  const sampler = setInterval(sample, 250);
  const timer = setInterval(() => {
    const now = performance.now();
    const total = done();
    const rate = (total - last.done) / ((now - last.at) / 1000);
    const elapsed = (now - started) / 1000;
    console.log(
      `${elapsed.toFixed(0).padStart(6)}s  written ${String(total).padStart(9)}  ` +
        `${(total / elapsed).toFixed(0).padStart(6)}/s overall  ${
          rate.toFixed(0).padStart(6)
        }/s now` +
        `  rss ${residentMib().toFixed(0)} MiB`,
    );
    last = { at: now, done: total };
  }, seconds * 1000);
  return {
    stop: () => {
      clearInterval(timer);
      clearInterval(sampler);
      sample();
    },
    peakMib: () => Math.max(peak, peakResidentMib()),
  };
}

function residentMib(): number {
  return Deno.memoryUsage().rss / 1024 / 1024;
}

/** The kernel's peak resident set size of this process (Linux), or 0 where it is not known. */
function peakResidentMib(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}
