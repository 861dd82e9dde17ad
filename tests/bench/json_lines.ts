/** JSON lines over a child's pipes: the benchmark's processes report and take commands this way. */

/** Each line of `stream` parsed as JSON, in order. */
export async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let end = pending.indexOf("\n");
    while (end >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line !== "") yield JSON.parse(line);
      end = pending.indexOf("\n");
    }
  }
  if (pending.trim() !== "") yield JSON.parse(pending);
}

/** Prints `value` as one JSON line on stdout. */
export function printLine(value: unknown): void {
  console.log(JSON.stringify(value));
}
