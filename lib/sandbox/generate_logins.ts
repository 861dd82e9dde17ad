/** Generated login messages of the sample queue's shape, some malformed, for demos and load. */

const DEVICE_TYPES = ["android", "ios"] as const;
const LOCALES = ["RU", "PH", "ID", "FR", "PT", "BR", "KE", "US", "DE", "JP", null] as const;

/**
 * `count` message bodies, about `malformedShare` of them malformed in one of several ways. Every
 * value comes from `random`, so a seeded generator gives the same messages every time.
 */
export function generateLogins(
  count: number,
  { malformedShare, random = Math.random }: { malformedShare: number; random?: () => number },
): string[] {
  const int = (n: number) => Math.floor(random() * n);
  const digits = (n: number, width: number) => String(int(n)).padStart(width, "0");
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const hex = (width: number) => Array.from({ length: width }, () => int(16).toString(16)).join("");
  const login = () => ({
    user_id: `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + int(4)).toString(16)}${hex(3)}-${hex(12)}`,
    app_version: random() < 0.5
      ? `${int(10)}.${int(10)}.${int(10)}`
      : `${int(10)}.${digits(100, 2)}`,
    device_type: pick(DEVICE_TYPES),
    ip: `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`,
    locale: pick(LOCALES),
    device_id: `${digits(1000, 3)}-${digits(100, 2)}-${digits(10000, 4)}`,
  });
  const malformed = [
    () => JSON.stringify(login()).slice(0, 40),
    () => JSON.stringify({ ...login(), device_id: undefined }),
    () => JSON.stringify({ ...login(), ip: int(1 << 30) }),
    () => JSON.stringify({ ...login(), app_version: "latest" }),
    () => JSON.stringify({ foo: "oops_wrong_msg_type", bar: String(int(1000)) }),
  ];
  return Array.from(
    { length: count },
    () => random() < malformedShare ? pick(malformed)() : JSON.stringify(login()),
  );
}

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
