/** Generated login messages of the sample queue's shape, some malformed, for demos and load. */

const DEVICE_TYPES = ["android", "ios"] as const;
const LOCALES = ["RU", "PH", "ID", "FR", "PT", "BR", "KE", "US", "DE", "JP", null] as const;

/** `count` message bodies, about `malformedShare` of them malformed in one of several ways. */
export function generateLogins(
  count: number,
  { malformedShare, random = Math.random }: { malformedShare: number; random?: () => number },
): string[] {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const login = () => ({
    user_id: crypto.randomUUID(),
    app_version: random() < 0.5
      ? `${int(10)}.${int(10)}.${int(10)}`
      : `${int(10)}.${String(int(100)).padStart(2, "0")}`,
    device_type: pick(DEVICE_TYPES),
    ip: `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`,
    locale: pick(LOCALES),
    device_id: `${int(1000)}`.padStart(3, "0") + `-${int(100)}`.padStart(3, "0") +
      `-${int(10000)}`.padStart(5, "0"),
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
