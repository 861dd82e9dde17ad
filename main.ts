/** vaultline's command line: parses, wires the parts together, maps errors to exit codes. */
import {
  type Command,
  ConfigError,
  type Environment,
  isSandbox,
  parseCommand,
  type RevealCommand,
  type RunCommand,
  type SeedCommand,
} from "./lib/config.ts";
import { ingest, type IngestCounts, type IngestSummary } from "./lib/ingest.ts";
import { SqsQueue } from "./lib/queue/sqs_queue.ts";
import { generateLogins } from "./lib/record/generate_logins.ts";
import { Sandbox } from "./lib/sandbox.ts";
import { closeDatabase, connectDatabase } from "./lib/store/database.ts";
import { migrate } from "./lib/store/migrate.ts";
import { dataKeySource } from "./lib/vault/envelope.ts";
import { createKeyrings, readKeyring, writeKeyring } from "./lib/vault/keyring.ts";
import { revealTokens } from "./lib/vault/reveal.ts";

/** Runs the command line `args`; resolves to the process exit code. */
export async function main(args: readonly string[], env: Environment): Promise<number> {
  try {
    return await execute(parseCommand(args, env));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`vaultline: ${message}`);
    return error instanceof ConfigError ? 2 : 1;
  }
}

async function execute(command: Command): Promise<number> {
  switch (command.name) {
    case "help":
      console.log(command.text);
      return 0;
    case "keys-init":
      return await keysInit(command.out, command.ingestOut);
    case "reveal":
      return await reveal(command);
    case "run":
      return await run(command);
    case "seed":
      return await seed(command);
  }
}

async function run(command: RunCommand): Promise<number> {
  const { settings } = command;
  const log = (line: string) => console.error(`vaultline: ${line}`);
  await using sandbox = isSandbox(settings)
    ? await Sandbox.open(settings.dataDir, { database: true, queue: true, log })
    : undefined;
  if (sandbox) {
    if (await sandbox.ensureKeyrings()) log(`Created a keyring pair in "${settings.dataDir}/"`);
    const seeded = await sandbox.seedOnce();
    if (seeded > 0) log(`Seeded the sandbox queue with ${seeded} sample messages`);
  }
  const keyring = await readKeyring(settings.keyringPath!);
  if (keyring.kind === "full") {
    log("The keyring holds the KEK's private key; the ingest needs only the ingest keyring");
  }
  const queue = sandbox?.openQueue() ?? new SqsQueue(settings.sqsQueueUrl!, {
    region: settings.awsRegion,
    endpoint: settings.sqsEndpoint,
  });
  const url = sandbox?.database?.url ?? settings.databaseUrl!;
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
    await migrate(db);
    const summary = await ingest({
      queue,
      connect: () => connectDatabase(url, { max: 2 }),
      vault: {
        tokenKey: keyring.tokenKey,
        dataKey: dataKeySource(keyring.keks[0]!),
      },
    }, {
      concurrency: command.concurrency,
      batchSize: command.batchSize,
      visibilitySeconds: command.visibilitySeconds,
      untilEmpty: command.untilEmpty,
      maxMessages: command.maxMessages,
      signal: stop.signal,
      onProgress: progress.update,
      log: (line) => {
        progress.clear();
        log(line);
      },
    });
    progress.clear();
    if (command.json) console.log(JSON.stringify(summary));
    else console.log(describeSummary(summary));
    if (sandbox) {
      const [example] = await db<
        { maskedIp: string }[]
      >`SELECT masked_ip FROM user_logins WHERE masked_ip IS NOT NULL LIMIT 1`;
      console.error(sandboxEpilogue(settings.dataDir, example?.maskedIp));
    }
    return 0;
  } finally {
    progress.clear();
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    queue.close();
    await closeDatabase(db);
  }
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

/** A live line on stderr while it is a terminal; nothing otherwise. */
function progressLine() {
  const live = Deno.stderr.isTerminal();
  const started = performance.now();
  const encoder = new TextEncoder();
  let last = 0;
  let shown = false;
  return {
    update(counts: Readonly<IngestCounts>): void {
      const now = performance.now();
      if (!live || now - last < 200) return;
      last = now;
      const rate = counts.received / Math.max((now - started) / 1000, 0.001);
      const line = `received ${counts.received}  inserted ${counts.inserted}  ` +
        `quarantined ${counts.quarantined}  ${rate.toFixed(0)} msg/s`;
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
      shown = true;
    },
    clear(): void {
      if (shown) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      shown = false;
    },
  };
}

async function seed(command: SeedCommand): Promise<number> {
  const { settings } = command;
  await using sandbox = settings.sqsQueueUrl === undefined
    ? await Sandbox.open(settings.dataDir, { database: false, queue: true })
    : undefined;
  const queue = sandbox?.openQueue() ?? new SqsQueue(settings.sqsQueueUrl!, {
    region: settings.awsRegion,
    endpoint: settings.sqsEndpoint,
  });
  try {
    const bodies = generateLogins(command.count, { malformedShare: command.malformedShare });
    await queue.send(bodies);
    console.error(`Sent ${bodies.length} messages to "${queue.url}"`);
    return 0;
  } finally {
    queue.close();
  }
}

async function keysInit(out: string, ingestOut: string): Promise<number> {
  for (const path of [out, ingestOut]) {
    if (await exists(path)) {
      throw new ConfigError(`Cannot write keyring "${path}": file exists, refusing to overwrite`);
    }
  }
  const { full, ingest } = await createKeyrings();
  await writeKeyring(out, full);
  await writeKeyring(ingestOut, ingest);
  console.error(`Wrote the full keyring to "${out}" (for reveal; keep it offline)`);
  console.error(`Wrote the ingest keyring to "${ingestOut}" (for run; it cannot decrypt)`);
  return 0;
}

async function reveal(command: RevealCommand): Promise<number> {
  const { settings } = command;
  const keyring = await readKeyring(settings.keyringPath!);
  if (keyring.kind !== "full") {
    throw new ConfigError(
      `Cannot reveal with keyring "${settings.keyringPath}": it is an ingest keyring, without the private key`,
    );
  }
  await using sandbox = settings.databaseUrl === undefined
    ? await openSandboxDatabase(settings.dataDir)
    : undefined;
  const db = connectDatabase(settings.databaseUrl ?? sandbox!.database!.url, { max: 1 });
  try {
    const result = await revealTokens(db, keyring, { ...command, osUser: settings.osUser });
    for (const token of result.unknown) console.error(`vaultline: unknown token "${token}"`);
    for (const entry of result.revealed) console.log(JSON.stringify(entry));
    return result.unknown.length === 0 ? 0 : 1;
  } finally {
    await closeDatabase(db);
  }
}

async function openSandboxDatabase(dataDir: string): Promise<Sandbox> {
  if (!(await exists(`${dataDir}/postgres`))) {
    throw new ConfigError(
      `No sandbox database in "${dataDir}/postgres": run "deno task run" first, or set DATABASE_URL`,
    );
  }
  return await Sandbox.open(dataDir, { database: true, queue: false });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
