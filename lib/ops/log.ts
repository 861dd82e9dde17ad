/**
 * Logs: JSON lines on stderr (time, level, event, then ids and counts), or one human line each
 * when stderr is a terminal. Callers pass only codes, ids and counts, never message contents.
 */

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

/** A field of a log line: ids, counts, codes. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Writes a log line of `level` for `event`, with `message` for people and `fields` for machines. */
export type Log = (level: LogLevel, event: string, message: string, fields?: LogFields) => void;

/** A logger at `level` writing to `write` as JSON lines, or as human lines when `human`. */
export function createLog(
  { level, human, write = (line) => console.error(line), now = () => new Date() }: {
    level: LogLevel;
    human: boolean;
    write?: (line: string) => void;
    now?: () => Date;
  },
): Log {
  const threshold = LOG_LEVELS.indexOf(level);
  return (lineLevel, event, message, fields = {}) => {
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    if (human) {
      write(`vaultline: ${message}`);
      return;
    }
    write(
      JSON.stringify({ time: now().toISOString(), level: lineLevel, event, message, ...fields }),
    );
  };
}
