/** The benchmark's two corpora of message bodies. */
import { generateLogins, seededRandom } from "../../lib/sandbox/generate_logins.ts";

/** `sample`: the sandbox's 100 messages repeated; `unique`: generated, every ip and device new. */
export const CORPORA = ["sample", "unique"] as const;

/** A corpus name. */
export type Corpus = typeof CORPORA[number];

const SAMPLE = new URL("../../lib/sandbox/sample_queue.jsonl", import.meta.url);

/** Seeds the generator, so every run of the `unique` corpus sends the same messages. */
const UNIQUE_SEED = 1;

/** The sample queue's share of malformed messages (1 of 100), for the generated corpus too. */
const MALFORMED_SHARE = 0.01;

/** The first `count` bodies of `corpus`. */
export async function corpusBodies(corpus: Corpus, count: number): Promise<string[]> {
  if (corpus === "unique") {
    return generateLogins(count, {
      malformedShare: MALFORMED_SHARE,
      random: seededRandom(UNIQUE_SEED),
    });
  }
  const sample = (await Deno.readTextFile(SAMPLE)).split("\n").filter((line) => line !== "");
  return Array.from({ length: count }, (_, i) => sample[i % sample.length]!);
}

/** `name` as a corpus; throws a `RangeError` for any other name. */
export function parseCorpus(name: string): Corpus {
  const corpus = CORPORA.find((known) => known === name);
  if (!corpus) {
    throw new RangeError(`Cannot use corpus "${name}": expected one of ${CORPORA.join(", ")}`);
  }
  return corpus;
}
