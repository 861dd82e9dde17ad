/** Shared test material: fresh keyrings, the sample queue as parsed messages. */
import {
  type InboundMessage,
  type ParsedMessage,
  parseMessage,
} from "../lib/record/parse_message.ts";
import { dataKeySource } from "../lib/vault/envelope.ts";
import { createKeyrings, importKeyring, type Keyring } from "../lib/vault/keyring.ts";
import type { IngestVault } from "../lib/vault/seal_batch.ts";

export const FIXTURE_URL = new URL(
  "../../shared/fixtures/fetch-login-queue.jsonl",
  import.meta.url,
);

/** A new full keyring, its ingest keyring, and an ingest vault on the latter. */
export async function freshKeys(): Promise<{ full: Keyring; ingest: Keyring; vault: IngestVault }> {
  const files = await createKeyrings();
  const full = await importKeyring(files.full);
  const ingest = await importKeyring(files.ingest);
  return {
    full,
    ingest,
    vault: { tokenKey: ingest.tokenKey, dataKey: dataKeySource(ingest.keks[0]!) },
  };
}

/** The 100 sample message bodies. */
export async function sampleBodies(): Promise<string[]> {
  return (await Deno.readTextFile(FIXTURE_URL)).split("\n").filter((line) => line !== "");
}

/** The sample queue as messages with ids `sample-<line>`, sent at `sentAt`. */
export async function sampleMessages(
  sentAt = new Date("2026-11-25T12:00:00Z"),
): Promise<InboundMessage[]> {
  return (await sampleBodies()).map((body, i) => ({ messageId: `sample-${i + 1}`, body, sentAt }));
}

/** The sample queue parsed by the record rules. */
export async function sampleParsed(): Promise<ParsedMessage[]> {
  return (await sampleMessages()).map(parseMessage);
}
