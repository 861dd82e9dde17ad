import assert from "node:assert/strict";
import { DATA_KEY_MAX_USES, dataKeySource } from "../lib/ingest/data_keys.ts";
import { FakeClock } from "./fake_clock.ts";
import { freshKeys } from "./vault_fixture.ts";

Deno.test("dataKeySource() moves to a new data key before one exceeds its uses", async () => {
  const { ingest } = await freshKeys();
  const take = dataKeySource(ingest.keks[0], { maxUses: 10 });
  const first = await take(6);
  assert.equal(await take(4), first);
  const second = await take(1);
  assert.notEqual(second.id, first.id);
  assert.notEqual(await take(10), second);
  await assert.rejects(take(11), RangeError);
});

Deno.test("dataKeySource() moves to a new data key once one is older than its age", async () => {
  const { ingest } = await freshKeys();
  const clock = new FakeClock();
  const take = dataKeySource(ingest.keks[0], { maxAgeMs: 60_000, clock });
  const first = await take(1);
  await clock.advance(59_999);
  assert.equal(await take(1), first, "a key younger than its age is kept");
  await clock.advance(1);
  const second = await take(1);
  assert.notEqual(second.id, first.id, "a key as old as its age is replaced");
  await clock.advance(30_000);
  assert.equal(await take(1), second, "the age counts from when the new key was made");
});

Deno.test("dataKeySource() defaults stay far below NIST SP 800-38D's 2^32 and refuse more", async () => {
  const { ingest } = await freshKeys();
  assert.ok(DATA_KEY_MAX_USES <= 2 ** 32);
  assert.throws(() => dataKeySource(ingest.keks[0], { maxUses: 2 ** 32 + 1 }), RangeError);
  assert.throws(() => dataKeySource(ingest.keks[0], { maxUses: 0 }), RangeError);
  const take = dataKeySource(ingest.keks[0]);
  const first = await take(DATA_KEY_MAX_USES - 1);
  assert.equal(await take(1), first);
  assert.notEqual(await take(1), first);
});
