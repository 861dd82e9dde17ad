/** The benchmark's figures: medians over rounds, the ratios, and the table. */

/** What one contender run measured. */
export interface RunFigures {
  readonly corpus: string;
  readonly contender: string;
  readonly kind: "raw" | "naive" | "vaultline";
  readonly messages: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  /** CPU the SQS emulator's process spent during the run. */
  readonly sqsCpuSeconds: number;
  readonly peakRssMib: number;
  /** The drain's own time as the contender reported it: without the process's startup. */
  readonly reportedSeconds: number;
}

/** One contender on one corpus, medians over its rounds (peak RSS: the largest). */
export interface ContenderResult {
  readonly corpus: string;
  readonly contender: string;
  readonly kind: RunFigures["kind"];
  readonly messages: number;
  readonly rounds: number;
  readonly messagesPerSecond: number;
  readonly cpuMicrosPerMessage: number;
  readonly sqsCpuMicrosPerMessage: number;
  readonly peakRssMib: number;
}

/** A vaultline contender against raw and naive on one corpus. */
export interface Ratios {
  readonly corpus: string;
  readonly contender: string;
  /** vaultline's rate / raw's rate. */
  readonly rateVsRaw: number;
  /** vaultline's CPU per message / raw's. */
  readonly cpuVsRaw: number;
  /** vaultline's rate / naive's rate. */
  readonly rateVsNaive: number;
}

/** Medians per contender and corpus, in the order first run, and each vaultline's ratios. */
export function medianResults(
  runs: readonly RunFigures[],
): { results: ContenderResult[]; ratios: Ratios[] } {
  const groups = Map.groupBy(runs, (run) => `${run.corpus}\u0000${run.contender}`);
  const results = [...groups.values()].map((group): ContenderResult => {
    const first = group[0]!;
    return {
      corpus: first.corpus,
      contender: first.contender,
      kind: first.kind,
      messages: first.messages,
      rounds: group.length,
      messagesPerSecond: median(group.map((run) => run.messages / run.wallSeconds)),
      cpuMicrosPerMessage: median(group.map((run) => (run.cpuSeconds * 1e6) / run.messages)),
      sqsCpuMicrosPerMessage: median(
        group.map((run) => (run.sqsCpuSeconds * 1e6) / run.messages),
      ),
      peakRssMib: Math.max(...group.map((run) => run.peakRssMib)),
    };
  });
  const ratios = results.filter((result) => result.kind === "vaultline").flatMap((result) => {
    const of = (kind: RunFigures["kind"]) =>
      results.find((other) => other.corpus === result.corpus && other.kind === kind);
    const raw = of("raw");
    const naive = of("naive");
    if (!raw || !naive) return [];
    return [{
      corpus: result.corpus,
      contender: result.contender,
      rateVsRaw: result.messagesPerSecond / raw.messagesPerSecond,
      cpuVsRaw: result.cpuMicrosPerMessage / raw.cpuMicrosPerMessage,
      rateVsNaive: result.messagesPerSecond / naive.messagesPerSecond,
    }];
  });
  return { results, ratios };
}

/** The middle value of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Prints the results and ratios of `summary` as tables. */
export function printTable(summary: {
  n: number;
  naiveN: number;
  rounds: number;
  concurrency: number;
  database: string;
  results: readonly ContenderResult[];
  ratios: readonly Ratios[];
}): void {
  const count = (n: number) => n.toLocaleString("en-US");
  console.log(
    `End to end: ${count(summary.n)} messages a run (naive ${count(summary.naiveN)}: its ` +
      `figure is a rate), ${summary.concurrency} receivers, ${summary.database}, ` +
      `median of ${summary.rounds} round${summary.rounds === 1 ? "" : "s"}`,
  );
  const rows = [
    ["corpus", "contender", "messages", "msg/s", "CPU µs/msg", "SQS CPU µs/msg", "peak RSS MiB"],
    ...summary.results.map((r) => [
      r.corpus,
      r.contender,
      count(r.messages),
      r.messagesPerSecond.toFixed(0),
      r.cpuMicrosPerMessage.toFixed(0),
      r.sqsCpuMicrosPerMessage.toFixed(0),
      r.peakRssMib.toFixed(0),
    ]),
  ];
  printRows(rows, 2);
  console.log("");
  printRows([
    ["corpus", "contender", "rate / raw", "CPU / raw CPU", "rate / naive"],
    ...summary.ratios.map((r) => [
      r.corpus,
      r.contender,
      `${r.rateVsRaw.toFixed(2)}x`,
      `${r.cpuVsRaw.toFixed(2)}x`,
      `${r.rateVsNaive.toFixed(1)}x`,
    ]),
  ], 2);
  console.log(
    "\nmsg/s: messages over the process's wall time, startup included; CPU: its user + system " +
      "time, all threads; SQS CPU: the emulator's process meanwhile.",
  );
}

/** Prints `rows` in columns, the first `left` of them left-aligned and the rest right-aligned. */
function printRows(rows: readonly string[][], left: number): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) {
    console.log(
      row.map((cell, i) => i < left ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))
        .join("  ").trimEnd(),
    );
  }
}
