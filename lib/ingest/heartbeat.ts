/** The visibility heartbeat: held messages are kept hidden from other consumers until deleted. */
import type { SqsQueue } from "../queue/sqs_queue.ts";
import type { Clock } from "./clock.ts";
import { failureOf, type IngestEvent } from "./events.ts";
import type { InFlight } from "./in_flight.ts";

/**
 * Every sixth of the visibility timeout, extends the messages that would become visible within
 * half of it; returns once `signal` aborts, cutting short a call in progress.
 */
export async function heartbeat(
  parts: { queue: SqsQueue; inFlight: InFlight; clock: Clock; emit: (event: IngestEvent) => void },
  { visibilitySeconds, signal }: { visibilitySeconds: number; signal: AbortSignal },
): Promise<void> {
  const { queue, inFlight, clock, emit } = parts;
  const visibilityMs = visibilitySeconds * 1000;
  while (!signal.aborted) {
    await clock.sleep(visibilityMs / 6, signal);
    if (signal.aborted) return;
    const due = inFlight.dueBefore(clock.now() + visibilityMs / 2);
    if (due.length === 0) continue;
    try {
      const refused = new Set(
        await queue.extendVisibility(due.map((held) => held.message), visibilitySeconds, {
          signal,
        }),
      );
      const visibleUntil = clock.now() + visibilityMs;
      const extended = due.filter((held) => !refused.has(held.message));
      for (const held of extended) held.visibleUntil = visibleUntil;
      if (extended.length > 0) emit({ type: "extended", count: extended.length });
    } catch (error) {
      if (signal.aborted) return;
      emit({
        type: "retry",
        stage: "extend",
        attempt: 1,
        delayMs: visibilityMs / 6,
        count: due.length,
        ...failureOf(error),
      });
    }
  }
}
