/** `vaultline run`: drain the queue into the vault. */
import {
  DATA_KEY_MAX_AGE_MS,
  DATA_KEY_MAX_USES,
  DATA_KEY_USES_LIMIT,
  dataKeySource,
} from "../ingest/data_keys.ts";
import { ingest } from "../ingest/ingest.ts";
import type { IngestEvent, IngestSummary } from "../ingest/events.ts";
import {
  keyringPath,
  readSettings,
  requireDatabaseUrl,
  requireQueue,
  type Settings,
} from "../settings.ts";
import { closeDatabase, connectDatabase } from "../store/database.ts";
import { migrateIfAllowed } from "../store/migrate.ts";
import { anyIpToken } from "../store/user_logins.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { progressLine } from "./progress_line.ts";
import { loadKeyring, openIngestServices } from "./services.ts";

/** What `run` was asked to do. */
export interface RunOptions {
  readonly settings: Settings;
  readonly keyringPath: string;
  readonly untilEmpty: boolean;
  readonly maxMessages: number | undefined;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly visibilitySeconds: number;
  /** Values one data key seals before the ingest makes a new one. */
  readonly dataKeyUses: number;
  /** Seconds one data key is used before the ingest makes a new one. */
  readonly dataKeyAgeSeconds: number;
  readonly allowReadableKeyring: boolean;
  readonly json: boolean;
}

export const run = defineCommand<RunOptions>({
  name: "run",
  summary: "Drain the queue into user_logins (the sandbox when nothing is configured)",
  help: `Usage: vaultline run [options]

Drains SQS_QUEUE_URL into DATABASE_URL. With neither set, runs the sandbox: embedded
Postgres and SQS under .data/, seeded with the sample queue, drained until empty.
Applies pending migrations when the database user may; a user with only the
vaultline_ingest role is told to run "deno task migrate" as the schema owner.

Options:
  --keyring FILE      ingest keyring (default VAULT_KEYRING; sandbox: .data/ingest.keyring.json)
  --until-empty       stop once the queue holds no visible, in-flight or delayed message
  --max-messages N    stop after N messages
  --concurrency N     concurrent long-polling receivers (default 4)
  --batch-size N      messages per database transaction, 1 to 1000 (default 500)
  --visibility-timeout SECONDS
                      how long a received message stays hidden from other consumers; renewed
                      while it waits (default 60)
  --data-key-uses N   values sealed under one data key before a new one (default 65536;
                      at least 2 x --batch-size, at most 2^32: NIST SP 800-38D)
  --data-key-age SECONDS
                      seconds one data key is used before a new one (default 3600)
  --allow-readable-keyring
                      use a full keyring that group or others may read
  --json              print the final summary as one JSON object on stdout
  -h, --help          show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      keyring: { type: "string" },
      "until-empty": { type: "boolean" },
      "max-messages": { type: "string" },
      concurrency: { type: "string" },
      "batch-size": { type: "string" },
      "visibility-timeout": { type: "string" },
      "data-key-uses": { type: "string" },
      "data-key-age": { type: "string" },
      "allow-readable-keyring": { type: "boolean" },
      json: { type: "boolean" },
    });
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
      batchSize,
      visibilitySeconds: parseInteger(
        "--visibility-timeout",
        asString(values["visibility-timeout"]),
        { min: 2, max: 43_200, fallback: 60 },
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
    };
  },

  async execute(options) {
    const log = (line: string) => console.error(`vaultline: ${line}`);
    await using services = await openIngestServices(options.settings, log);
    using keyring = await loadKeyring(options.keyringPath, {
      kind: "ingest",
      log,
      kms: options.settings.kms,
      allowReadable: options.allowReadableKeyring,
    });
    const url = services.databaseUrl;
    // Migrations and the sandbox's closing query; the ingest opens (and renews) its own pool.
    const db = connectDatabase(url, { max: 1 });
    const stop = new AbortController();
    const onSignal = () => {
      // A second signal does not wait: uncommitted messages return to the queue after their timeout.
      if (stop.signal.aborted) Deno.exit(130);
      log("Stopping: writing and deleting what is in flight (signal again to quit at once)");
      stop.abort();
    };
    const signals = ["SIGINT", "SIGTERM"] as const;
    for (const signal of signals) Deno.addSignalListener(signal, onSignal);
    const progress = progressLine();
    try {
      await migrateIfAllowed(db);
      const summary = await ingest({
        queue: services.queue,
        connect: () => connectDatabase(url, { max: 2 }),
        vault: {
          tokenKey: keyring.tokenKey,
          dataKey: dataKeySource(keyring.keks[0], {
            maxUses: options.dataKeyUses,
            maxAgeMs: options.dataKeyAgeSeconds * 1000,
          }),
        },
      }, {
        concurrency: options.concurrency,
        batchSize: options.batchSize,
        visibilitySeconds: options.visibilitySeconds,
        untilEmpty: options.untilEmpty,
        maxMessages: options.maxMessages,
        signal: stop.signal,
        onEvent: (event) => {
          progress.onEvent(event);
          const line = describeEvent(event);
          if (line !== undefined) {
            progress.clear();
            log(line);
          }
        },
      });
      progress.clear();
      if (options.json) console.log(JSON.stringify(summary));
      else console.log(describeSummary(summary));
      if (services.sandbox) {
        console.error(sandboxEpilogue(services.sandbox.dataDir, await anyIpToken(db)));
      }
      return 0;
    } finally {
      progress.clear();
      for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
      await closeDatabase(db);
    }
  },
});

/** The log line of an event worth a line; undefined for routine progress. */
export function describeEvent(event: IngestEvent): string | undefined {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  switch (event.type) {
    case "retry":
      switch (event.stage) {
        case "receive":
          return `Cannot receive from the queue, retrying in ${
            seconds(event.delayMs)
          }: ${event.cause}`;
        case "write":
          return `Cannot write a batch of ${event.count} messages (attempt ${event.attempt}), ` +
            `retrying in ${seconds(event.delayMs)}: ${event.cause}`;
        case "delete":
          return `Cannot delete ${event.count} written messages, retrying in ${
            seconds(event.delayMs)
          }: ${event.cause}`;
        case "extend":
          return `Cannot extend the visibility of ${event.count} waiting messages: ${event.cause}`;
        case "depth":
          return `Cannot read the queue's depth: ${event.cause}`;
      }
      break;
    case "gaveUp":
      return `Gave up deleting ${event.count} written messages; a redelivery will skip them`;
    case "partitionsCreated":
      return `Created the user_logins partitions of ${event.months.join(", ")}`;
    case "partitionsMissing":
      return `Cannot create the user_logins partitions of ${event.months.join(", ")}, ` +
        `their rows go to user_logins_default meanwhile: ${event.cause}`;
  }
  return undefined;
}

function describeSummary(summary: IngestSummary): string {
  if (summary.received === 0) return "Nothing new: the queue held no messages";
  const rate = summary.received / Math.max(summary.seconds, 0.001);
  return [
    `Received ${summary.received} messages in ${summary.seconds.toFixed(1)}s (${
      rate.toFixed(0)
    }/s)`,
    `  inserted     ${summary.inserted} rows into user_logins`,
    `  quarantined  ${summary.quarantined} into ingest_quarantine`,
    `  duplicates   ${summary.duplicates} already written, skipped`,
    `  deleted      ${summary.deleted} from the queue`,
  ].join("\n");
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
