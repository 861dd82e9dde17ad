/** Micro-benchmarks of the pure core: parsing, tokenizing and sealing a batch. */
import { sealBatch } from "../lib/ingest/seal_batch.ts";
import { parseMessage } from "../lib/record/parse_message.ts";
import { generateLogins } from "../lib/sandbox/generate_logins.ts";
import { freshKeys } from "./vault_fixture.ts";

const { vault } = await freshKeys();
const sentAt = new Date();
const messages = generateLogins(500, { malformedShare: 0.01 }).map((body, i) => ({
  messageId: `m-${i}`,
  body,
  sentAt,
}));
const parsed = messages.map(parseMessage);

Deno.bench("parseMessage() of a 500-message batch", { group: "batch", baseline: true }, () => {
  messages.map(parseMessage);
});

Deno.bench(
  "sealBatch() of a 500-message batch: tokens and AES-GCM",
  { group: "batch" },
  async () => {
    await sealBatch(parsed, vault);
  },
);
