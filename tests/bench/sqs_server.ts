/**
 * The benchmark's SQS emulator, in a process of its own so its CPU is not the contenders'.
 * Prints `{"endpoint"}`, then answers one JSON line per command line on stdin:
 * `{"seed": {"queue", "corpus", "count"}}` creates the queue, fills it and answers `{"queueUrl"}`;
 * `{"cpu": true}` answers `{"cpuSeconds"}`, the user + system time this process has used.
 * Exits when stdin closes.
 */
import { cpuUsage } from "node:process";
import { EmbeddedSqs } from "../../lib/sandbox/embedded_sqs.ts";
import { corpusBodies, parseCorpus } from "./corpus.ts";
import { jsonLines, printLine } from "./json_lines.ts";

type Command =
  | { readonly seed: { readonly queue: string; readonly corpus: string; readonly count: number } }
  | { readonly cpu: true };

const sqs = await EmbeddedSqs.start();
try {
  printLine({ endpoint: sqs.endpoint });
  for await (const command of jsonLines(Deno.stdin.readable)) {
    if ("cpu" in (command as Command)) {
      const { user, system } = cpuUsage();
      printLine({ cpuSeconds: (user + system) / 1e6 });
      continue;
    }
    const { queue, corpus, count } = (command as Extract<Command, { seed: unknown }>).seed;
    const queueUrl = sqs.createQueue(queue);
    for (const body of await corpusBodies(parseCorpus(corpus), count)) {
      sqs.sendMessage(queue, body);
    }
    printLine({ queueUrl });
  }
} finally {
  await sqs.close();
}
