import assert from "node:assert/strict";
import type { IngestSummary } from "../lib/ingest/events.ts";
import { parseListenAddress } from "../lib/ops/http.ts";
import { createLog } from "../lib/ops/log.ts";
import { IngestMetrics } from "../lib/ops/metrics.ts";
import { generateLogins } from "../lib/sandbox/generate_logins.ts";
import { killQuietly, runCli, watchCli } from "./cli.ts";
import { processSetup } from "./run_fixture.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { DATABASE_KIND } from "./test_database.ts";
import { testRandom, waitFor, within } from "./wait.ts";

/** A loopback port free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The samples of a Prometheus text exposition: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-z_]+(?:\{[^}]*\})?) (-?[\d.e+]+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    map.set(match[1]!, Number(match[2]));
  }
  return map;
}

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
}

Deno.test("IngestMetrics counts events as Prometheus counters, histograms and gauges, every name prefixed", () => {
  const metrics = new IngestMetrics();
  metrics.onEvent({ type: "received", count: 10, bytes: 900 });
  metrics.onEvent({
    type: "batchWritten",
    size: 10,
    ms: 40,
    inserted: 8,
    quarantined: 1,
    duplicates: 1,
  });
  metrics.onEvent({ type: "deleted", count: 10 });
  metrics.onEvent({ type: "extended", count: 3 });
  metrics.onEvent({
    type: "retry",
    stage: "write",
    attempt: 1,
    delayMs: 500,
    count: 10,
    code: "ECONNREFUSED",
    cause: 'a "quoted"\ncause',
  });
  metrics.onEvent({ type: "inFlight", messages: 4, bytes: 360, oldestAgeSeconds: 2.5 });
  const text = metrics.render({ reveal: 3, reveal_failed: 1, forget: 2 });
  const got = samples(text);
  assert.equal(got.get("vaultline_messages_received_total"), 10);
  assert.equal(got.get("vaultline_messages_inserted_total"), 8);
  assert.equal(got.get("vaultline_messages_quarantined_total"), 1);
  assert.equal(got.get("vaultline_messages_duplicate_total"), 1);
  assert.equal(got.get("vaultline_messages_deleted_total"), 10);
  assert.equal(got.get("vaultline_visibility_extensions_total"), 3);
  assert.equal(got.get('vaultline_retries_total{stage="write",cause="ECONNREFUSED"}'), 1);
  assert.equal(got.get('vaultline_batch_size_bucket{le="10"}'), 1);
  assert.equal(got.get('vaultline_batch_size_bucket{le="1"}'), 0);
  assert.equal(got.get('vaultline_batch_write_seconds_bucket{le="0.05"}'), 1);
  assert.equal(got.get('vaultline_batch_write_seconds_bucket{le="0.025"}'), 0);
  assert.equal(got.get("vaultline_batch_write_seconds_count"), 1);
  assert.equal(got.get("vaultline_in_flight_messages"), 4);
  assert.equal(got.get("vaultline_in_flight_bytes"), 360);
  assert.equal(got.get("vaultline_oldest_message_age_seconds"), 2.5);
  assert.equal(got.get('vaultline_reveals_total{outcome="recorded"}'), 3);
  assert.equal(got.get('vaultline_reveals_total{outcome="failed"}'), 1);
  assert.equal(got.get('vaultline_audit_rows_total{kind="forget"}'), 2);
  for (const name of got.keys()) assert.match(name, /^vaultline_/);
  // Every family is declared once, with its type.
  const types = text.split("\n").filter((line) => line.startsWith("# TYPE "));
  assert.equal(new Set(types).size, types.length);
});

Deno.test("createLog() writes JSON lines at or above its level, and text for a terminal", () => {
  const lines: string[] = [];
  const now = () => new Date("2026-11-25T12:00:00Z");
  const json = createLog({ level: "info", human: false, write: (l) => lines.push(l), now });
  json("debug", "received", "Received 3 messages", { count: 3 });
  json("warn", "retry", "Cannot write", { stage: "write", attempt: 2 });
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    {
      time: "2026-11-25T12:00:00.000Z",
      level: "warn",
      event: "retry",
      message: "Cannot write",
      stage: "write",
      attempt: 2,
    },
  ]);
  const text = createLog({ level: "debug", human: true, write: (l) => lines.push(l) });
  text("debug", "received", "Received 3 messages", { count: 3 });
  assert.equal(lines.at(-1), "vaultline: Received 3 messages");
});

Deno.test("parseListenAddress() reads HOST:PORT, [IPV6]:PORT and :PORT, and refuses the rest", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:9464"), { hostname: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListenAddress("[::1]:9464"), { hostname: "::1", port: 9464 });
  assert.deepEqual(parseListenAddress(":9464"), { hostname: "0.0.0.0", port: 9464 });
  for (const bad of ["9464", "host:", "host:99999", "http://host:1"]) {
    assert.throws(() => parseListenAddress(bad), /^ConfigError: Invalid --http/);
  }
});

Deno.test(`run --http serves metrics whose counts match the summary, and JSON logs that hold no value (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  const { random, seedNote } = testRandom();
  const sent = 600;
  const bodies = generateLogins(sent, { malformedShare: 0.05, random });
  setup.send(bodies);
  const port = freePort();
  const run = watchCli(["run", "--json", "--batch-size", "100", "--http", `127.0.0.1:${port}`], {
    env: { ...setup.env(), LOG_LEVEL: "debug", LOG_FORMAT: "json" },
  });
  try {
    await waitFor(`/healthz on port ${port} ${seedNote}`, async () => {
      return await get(port, "/healthz").then((r) => r.status === 200, () => false);
    });
    await waitFor("the queue to be drained, by the metrics", async () => {
      const got = samples((await get(port, "/metrics")).text);
      return got.get("vaultline_messages_deleted_total") === sent;
    });
    const scraped = samples((await get(port, "/metrics")).text);
    assert.equal((await get(port, "/readyz")).status, 200);
    run.child.kill("SIGTERM");
    const result = await within("the ingest to stop", run.finished, 30_000);
    assert.equal(result.code, 0, result.stderr);
    const summary: IngestSummary = JSON.parse(result.stdout.trim());
    assert.deepEqual(
      {
        received: scraped.get("vaultline_messages_received_total"),
        inserted: scraped.get("vaultline_messages_inserted_total"),
        quarantined: scraped.get("vaultline_messages_quarantined_total"),
        duplicates: scraped.get("vaultline_messages_duplicate_total"),
        deleted: scraped.get("vaultline_messages_deleted_total"),
      },
      {
        received: summary.received,
        inserted: summary.inserted,
        quarantined: summary.quarantined,
        duplicates: summary.duplicates,
        deleted: summary.deleted,
      },
    );
    assert.equal(summary.inserted + summary.quarantined, sent);
    assert.equal(
      scraped.get("vaultline_batch_size_count"),
      scraped.get("vaultline_batch_write_seconds_count"),
    );
    assert.equal(scraped.get('vaultline_reveals_total{outcome="recorded"}'), 0);
    // Every log line is a JSON object with a time, a level and an event, and holds no value.
    const lines = result.stderr.trim().split("\n");
    assert.ok(lines.length > 5, result.stderr);
    const values = bodies.flatMap((
      body,
    ) => [...body.matchAll(/"(?:ip|device_id|user_id)":"([^"]+)"/g)])
      .map((match) => match[1]!);
    for (const line of lines) {
      const entry = JSON.parse(line);
      assert.ok(
        Date.parse(entry.time) > 0 && ["debug", "info", "warn", "error"].includes(entry.level),
      );
      assert.match(entry.event, /^[a-z_]+$/);
      for (const value of values) {
        assert.ok(!line.includes(value), `a log line holds a value ${seedNote}`);
      }
    }
    assert.ok(lines.some((line) => JSON.parse(line).event === "batch_written"));
  } finally {
    killQuietly(run.child);
    await run.finished;
  }
});

Deno.test(`run --http: readiness follows the database away and back, liveness stays (${DATABASE_KIND})`, async () => {
  await using setup = await processSetup();
  await using proxy = TcpProxy.start(Number(new URL(setup.database.url).port));
  const url = new URL(setup.database.url);
  url.port = String(proxy.port);
  const port = freePort();
  const run = watchCli(["run", "--http", `127.0.0.1:${port}`], {
    env: { ...setup.env(undefined, url.href), LOG_FORMAT: "json" },
  });
  try {
    await waitFor("/readyz to say ready", async () => {
      return await get(port, "/readyz").then((r) => r.status === 200, () => false);
    });
    await proxy.cut();
    await waitFor("/readyz to say not ready while the database is away", async () => {
      // A refused connection counts as "not yet": the liveness check below proves the server up.
      const ready = await get(port, "/readyz").catch(() => undefined);
      return ready?.status === 503 && ready.text.startsWith("not ready: database");
    });
    assert.equal((await get(port, "/healthz")).status, 200);
    proxy.restore();
    await waitFor("/readyz to say ready once the database is back", async () => {
      return (await get(port, "/readyz").catch(() => undefined))?.status === 200;
    });
    assert.equal((await get(port, "/healthz")).status, 200);
    run.child.kill("SIGTERM");
    assert.equal((await within("the ingest to stop", run.finished, 30_000)).code, 0);
  } finally {
    proxy.restore();
    killQuietly(run.child);
    await run.finished;
  }
});

Deno.test("run refuses a bad --http or LOG_LEVEL with one line and exit 2", async () => {
  const env = {
    DATABASE_URL: "postgres://u@127.0.0.1:1/x",
    SQS_QUEUE_URL: "http://127.0.0.1:1/000000000000/q",
    VAULT_KEYRING: "/nonexistent.json",
  };
  const http = await runCli(["run", "--http", "9464"], { env });
  assert.equal(http.code, 2);
  assert.match(http.stderr, /^vaultline: Invalid --http "9464": expected HOST:PORT[^\n]*\n$/);
  const level = await runCli(["run"], { env: { ...env, LOG_LEVEL: "loud" } });
  assert.equal(level.code, 2);
  assert.match(
    level.stderr,
    /^vaultline: Invalid LOG_LEVEL "loud": expected debug, info, warn, error\n$/,
  );
});
