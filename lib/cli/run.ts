/** `vaultline run`: drain the queue into the vault. */
import {
  DATA_KEY_MAX_AGE_MS,
  DATA_KEY_MAX_USES,
  DATA_KEY_USES_LIMIT,
  dataKeySource,
} from "../ingest/data_keys.ts";
import { DEFAULT_IN_FLIGHT_BYTES, DEFAULT_STOP_TIMEOUT_SECONDS, ingest } from "../ingest/ingest.ts";
import type { IngestEvent } from "../ingest/events.ts";
import { DEFAULT_WORKERS, ingestOnWorkers } from "../ingest/workers.ts";
import { startOpsEndpoint } from "../ops/endpoint.ts";
import { parseListenAddress } from "../ops/http.ts";
import { describeSummary, logIngestEvent } from "../ops/ingest_log.ts";
import { createLog, type Log } from "../ops/log.ts";
import { prepareDatabase } from "../ingest/prepare_database.ts";
import {
  keyringPath,
  readSettings,
  requireDatabaseUrl,
  requireQueue,
  type Settings,
} from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { anyIpToken } from "../store/user_logins.ts";
import type { Keyring } from "../vault/keyring.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { type ProgressLine, progressLine } from "./progress_line.ts";
import { type IngestServices, loadKeyring, openIngestServices } from "./services.ts";

/** What `run` was asked to do. */
export interface RunOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly untilEmpty: boolean;
  readonly maxMessages: number | undefined;
  readonly concurrency: number;
  /** Threads, each running a whole ingest with its share of the receivers. */
  readonly workers: number;
  readonly batchSize: number;
  readonly visibilitySeconds: number;
  readonly writeTimeoutSeconds: number;
  readonly stopTimeoutSeconds: number;
  readonly maxInFlightBytes: number;
  /** Values one data key seals before the ingest makes a new one. */
  readonly dataKeyUses: number;
  /** Seconds one data key is used before the ingest makes a new one. */
  readonly dataKeyAgeSeconds: number;
  readonly allowReadableKeyring: boolean;
  readonly json: boolean;
  readonly verbose: boolean;
  /** Where to serve health, readiness and metrics; undefined serves nothing. */
  readonly http: { readonly hostname: string; readonly port: number } | undefined;
}

const MIB = 1024 * 1024;

export const run = defineCommand<RunOptions>({
  name: "run",
  summary: "Drain the queue into user_logins (the sandbox when nothing is configured)",
  help: `Usage: vaultline run [options]

Drains SQS_QUEUE_URL into DATABASE_URL. With neither set, runs the sandbox: embedded
Postgres and SQS under .data/, seeded with the sample queue, drained until empty.

Options:
  --keyring FILE      ingest keyring (default VAULT_KEYRING; sandbox: .data/ingest.keyring.json)
  --until-empty       stop once the queue holds no visible, in-flight or delayed message
  --max-messages N    stop after N messages
  --concurrency N     concurrent long-polling receivers, shared out among the workers
                      (default 4)
  --workers N         threads, each with its own receivers, sealing, writer and database
                      pool over the same queue (default: the number of cores, ${DEFAULT_WORKERS})
  --batch-size N      messages per database transaction, 1 to 1000 (default 500)
  --visibility-timeout SECONDS
                      how long a received message stays hidden from other consumers; renewed
                      while it waits (default 60)
  --write-timeout SECONDS
                      a batch write not committed by then is abandoned and retried; the server
                      ends the ingest's statements and idle transactions after as long (default 60)
  --stop-timeout SECONDS
                      after SIGINT or SIGTERM, how long to go on writing and deleting what is
                      held before exiting; the rest returns to the queue (default ${DEFAULT_STOP_TIMEOUT_SECONDS})
  --max-in-flight-mib N
                      message bodies held between receive and delete, in MiB, before receiving
                      pauses (default ${DEFAULT_IN_FLIGHT_BYTES / MIB})
  --data-key-uses N   values sealed under one data key before a new one (default 65536;
                      at least 2 x --batch-size, at most 2^32: NIST SP 800-38D)
  --data-key-age SECONDS
                      seconds one data key is used before a new one (default 3600)
  --allow-readable-keyring
                      use a full keyring that group or others may read
  --json              print the final summary as one JSON object on stdout
  --verbose           log every event (LOG_LEVEL=debug): receives, batches, deletes
  --http ADDR         serve /healthz, /readyz and /metrics (Prometheus) on ADDR, e.g.
                      127.0.0.1:9464 (default: off)

Logs go to stderr as JSON lines (LOG_FORMAT=json), or as text while stderr is a terminal;
LOG_LEVEL is debug, info (default), warn or error.
  -h, --help          show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      keyring: { type: "string" },
      "until-empty": { type: "boolean" },
      "max-messages": { type: "string" },
      concurrency: { type: "string" },
      workers: { type: "string" },
      "batch-size": { type: "string" },
      "visibility-timeout": { type: "string" },
      "write-timeout": { type: "string" },
      "stop-timeout": { type: "string" },
      "max-in-flight-mib": { type: "string" },
      "data-key-uses": { type: "string" },
      "data-key-age": { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
      json: { type: "boolean" },
      verbose: { type: "boolean" },
      http: { type: "string" },
    });
    const httpText = asString(values.http);
    const settings = readSettings(env);
    if (settings.mode === "deployed") {
      const why = "set both SQS_QUEUE_URL and DATABASE_URL, or neither for the sandbox";
      requireDatabaseUrl(settings, why);
      requireQueue(settings, why);
    }
    const maxText = asString(values["max-messages"]);
    const batchSize = parseInteger("--batch-size", asString(values["batch-size"]), {
      min: 1,
      max: 1000,
      fallback: 500,
    });
    return {
      settings,
      keyringPath: keyringPath(settings, {
        flag: asString(values.keyring),
        sandboxName: "ingest.keyring.json",
        kind: "ingest keyring",
      }),
      // The sandbox always drains to empty: a newcomer's run should end on its own.
      untilEmpty: values["until-empty"] === true || settings.mode === "sandbox",
      maxMessages: maxText === undefined ? undefined : parseInteger("--max-messages", maxText, {
        min: 1,
        max: Number.MAX_SAFE_INTEGER,
        fallback: 0,
      }),
      concurrency: parseInteger("--concurrency", asString(values.concurrency), {
        min: 1,
        max: 64,
        fallback: 4,
      }),
      workers: parseInteger("--workers", asString(values.workers), {
        min: 1,
        max: 64,
        fallback: DEFAULT_WORKERS,
      }),
      batchSize,
      visibilitySeconds: parseInteger(
        "--visibility-timeout",
        asString(values["visibility-timeout"]),
        { min: 2, max: 43_200, fallback: 60 },
      ),
      writeTimeoutSeconds: parseInteger("--write-timeout", asString(values["write-timeout"]), {
        min: 1,
        max: 3600,
        fallback: 60,
      }),
      stopTimeoutSeconds: parseInteger("--stop-timeout", asString(values["stop-timeout"]), {
        min: 1,
        max: 3600,
        fallback: DEFAULT_STOP_TIMEOUT_SECONDS,
      }),
      maxInFlightBytes: MIB * parseInteger(
        "--max-in-flight-mib",
        asString(values["max-in-flight-mib"]),
        { min: 1, max: 4096, fallback: DEFAULT_IN_FLIGHT_BYTES / MIB },
      ),
      // A batch seals up to two values a message under one data key.
      dataKeyUses: parseInteger("--data-key-uses", asString(values["data-key-uses"]), {
        min: 2 * batchSize,
        max: DATA_KEY_USES_LIMIT,
        fallback: DATA_KEY_MAX_USES,
      }),
      dataKeyAgeSeconds: parseInteger("--data-key-age", asString(values["data-key-age"]), {
        min: 1,
        max: 365 * 24 * 3600,
        fallback: DATA_KEY_MAX_AGE_MS / 1000,
      }),
      allowReadableKeyring: values["allow-readable-keyring"] === true,
      json: values.json === true,
      verbose: values.verbose === true,
      http: httpText === undefined ? undefined : parseListenAddress(httpText),
    };
  },

  async execute(options) {
    const { level, format } = options.settings.log;
    const progress = progressLine();
    const log = createLog({
      level: options.verbose ? "debug" : level,
      human: format === "text" || (format === "auto" && Deno.stderr.isTerminal()),
      write: (line) => {
        progress.clear();
        console.error(line);
      },
    });
    const note = (line: string) => log("info", "note", line);
    const stop = new AbortController();
    const onSignal = () => {
      // A second signal does not wait: uncommitted messages return to the queue after their timeout.
      if (stop.signal.aborted) Deno.exit(130);
      log(
        "info",
        "stopping",
        `Stopping: writing and deleting what is in flight for up to ${options.stopTimeoutSeconds}s` +
          " (signal again to quit at once)",
        { stopTimeoutSeconds: options.stopTimeoutSeconds },
      );
      stop.abort();
    };
    const signals = ["SIGINT", "SIGTERM"] as const;
    for (const signal of signals) Deno.addSignalListener(signal, onSignal);
    try {
      await using services = await openIngestServices(options.settings, note);
      using keyring = await loadKeyring(options.keyringPath, {
        kind: "ingest",
        log: (line) => log("warn", "keyring", line),
        setting: options.settings.keyringPath === options.keyringPath ? "VAULT_KEYRING" : undefined,
        kms: options.settings.kms,
        allowReadable: options.allowReadableKeyring,
      });
      return await drain(options, { services, keyring, stop: stop.signal, log, progress });
    } finally {
      for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    }
  },
});

/** Migrates, then runs the ingest with a progress line and logs; resolves to the exit code. */
async function drain(
  options: RunOptions,
  { services, keyring, stop, log, progress }: {
    services: IngestServices;
    keyring: Keyring;
    stop: AbortSignal;
    log: Log;
    progress: ProgressLine;
  },
): Promise<number> {
  const url = services.databaseUrl;
  await using ops = options.http === undefined
    ? undefined
    : await startOpsEndpoint(options.http, { databaseUrl: url, queue: services.queue });
  if (ops) {
    log(
      "info",
      "serving",
      `Serving /healthz, /readyz and /metrics on ${options.http?.hostname}:${options.http?.port}`,
    );
    stop.addEventListener("abort", () => ops.stopping(), { once: true });
  }
  const onEvent = (event: IngestEvent) => {
    progress.onEvent(event);
    ops?.onEvent(event);
    logIngestEvent(log, event);
  };
  // Migrations and the sandbox's closing query; the ingest opens (and renews) its own pools.
  const db = connectDatabase(url, { max: 1 });
  try {
    if (!await prepareDatabase(db, { signal: stop, emit: onEvent })) {
      log("info", "stopped", "Stopped before the ingest started");
      return 0;
    }
    // The server ends what the ingest gave up on: an overdue statement, an idle transaction.
    const limits = {
      statementTimeoutMs: options.writeTimeoutSeconds * 1000,
      idleInTransactionMs: options.writeTimeoutSeconds * 1000,
    };
    const connection = { url, poolSize: 2, limits };
    const dataKeys = {
      maxUses: options.dataKeyUses,
      maxAgeMs: options.dataKeyAgeSeconds * 1000,
    };
    const ingestOptions = {
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      visibilitySeconds: options.visibilitySeconds,
      writeTimeoutSeconds: options.writeTimeoutSeconds,
      stopTimeoutSeconds: options.stopTimeoutSeconds,
      maxInFlightBytes: options.maxInFlightBytes,
      untilEmpty: options.untilEmpty,
      maxMessages: options.maxMessages,
      signal: stop,
      onEvent,
    };
    const parts = {
      queue: services.queue,
      connect: () => connectDatabase(url, { max: connection.poolSize, limits }),
      vault: { tokenKey: keyring.tokenKey, dataKey: dataKeySource(keyring.keks[0], dataKeys) },
    };
    const summary = options.workers > 1
      ? await ingestOnWorkers(parts, {
        queue: { url: services.queue.url, options: services.queue.options },
        database: connection,
        keyring: {
          path: options.keyringPath,
          kms: options.settings.kms,
          allowReadable: options.allowReadableKeyring,
        },
        dataKeys,
      }, { ...ingestOptions, workers: options.workers })
      : await ingest(parts, ingestOptions);
    progress.clear();
    if (options.json) console.log(JSON.stringify(summary));
    else console.log(describeSummary(summary));
    if (services.sandbox) {
      console.error(sandboxEpilogue(services.sandbox.dataDir, await anyIpToken(db)));
    }
    return summary.left === 0 ? 0 : 1;
  } finally {
    progress.clear();
    await closeDatabase(db, stop.aborted ? { timeoutSeconds: 0 } : {});
  }
}

function sandboxEpilogue(dataDir: string, token: string | undefined): string {
  const lines = [
    "",
    `The sandbox keeps everything in "${dataDir}/": embedded Postgres in ${dataDir}/postgres,`,
    `the queue in ${dataDir}/sqs, and the keyrings (keyring.json reveals, ingest.keyring.json ingests).`,
  ];
  if (token) {
    lines.push(
      "Reveal a token (audited in reveal_audit):",
      `  deno task reveal --token ${token} --reason "trying the sandbox"`,
    );
  }
  return lines.join("\n");
}
