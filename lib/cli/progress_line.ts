/** A live line on stderr while it is a terminal, fed by ingest events; nothing otherwise. */
import { countEvent, emptyCounts, type IngestEvent } from "../ingest/events.ts";

/** The line's subscriber and a way to clear it before other output. */
export interface ProgressLine {
  readonly onEvent: (event: IngestEvent) => void;
  clear(): void;
}

/** A progress line on `stderr`, redrawn at most five times a second. */
export function progressLine(
  { live = Deno.stderr.isTerminal(), now = () => performance.now() } = {},
): ProgressLine {
  const counts = emptyCounts();
  const started = now();
  const encoder = new TextEncoder();
  let last = 0;
  let shown = false;
  return {
    onEvent(event) {
      countEvent(counts, event);
      const time = now();
      if (!live || time - last < 200) return;
      last = time;
      const rate = counts.received / Math.max((time - started) / 1000, 0.001);
      const line = `received ${counts.received}  inserted ${counts.inserted}  ` +
        `quarantined ${counts.quarantined}  ${rate.toFixed(0)} msg/s`;
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
      shown = true;
    },
    clear() {
      if (shown) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      shown = false;
    },
  };
}
