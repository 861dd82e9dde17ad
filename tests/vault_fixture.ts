/** Shared test material: fresh keyrings, and the sample queue the project ships, as messages. */
import { sealBatch } from "../lib/ingest/seal_batch.ts";
import type { IngestVault } from "../lib/ingest/seal_batch.ts";
import {
  type InboundMessage,
  type ParsedMessage,
  parseMessage,
} from "../lib/record/parse_message.ts";
import type { Transaction } from "../lib/store/database.ts";
import { type BatchResult, writeBatch } from "../lib/store/write_batch.ts";
import { dataKeySource } from "../lib/ingest/data_keys.ts";
import { createKeyrings, importKeyring, type Keyring } from "../lib/vault/keyring.ts";
import sampleQueue from "../lib/sandbox/sample_queue.jsonl" with { type: "text" };

/** A new full keyring, its ingest keyring, and an ingest vault on the latter. */
export async function freshKeys(): Promise<{ full: Keyring; ingest: Keyring; vault: IngestVault }> {
  const files = await createKeyrings();
  const full = await importKeyring(files.full);
  const ingest = await importKeyring(files.ingest);
  return { full, ingest, vault: ingestVault(ingest) };
}

/** An ingest vault on `keyring`, with its own data key source. */
export function ingestVault(keyring: Keyring): IngestVault {
  return { tokenKey: keyring.tokenKey, dataKey: dataKeySource(keyring.keks[0]) };
}

/** The 100 sample message bodies, from the sample queue the sandbox ships. */
export function sampleBodies(): string[] {
  return sampleQueue.split("\n").filter((line) => line !== "");
}

/** The sample queue as messages with ids `sample-<line>`, sent at `sentAt`. */
export function sampleMessages(sentAt = new Date("2026-11-25T12:00:00Z")): InboundMessage[] {
  return sampleBodies().map((body, i) => ({ messageId: `sample-${i + 1}`, body, sentAt }));
}

/** The sample queue parsed by the record rules. */
export function sampleParsed(): ParsedMessage[] {
  return sampleMessages().map(parseMessage);
}

/** Seals `messages` and writes them in `tx`, as the ingest does. */
export async function sealAndWrite(
  tx: Transaction,
  messages: readonly ParsedMessage[],
  vault: IngestVault,
): Promise<BatchResult> {
  return await writeBatch(tx, await sealBatch(messages, vault));
}
