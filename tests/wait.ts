/** Waits in tests: each has a deadline and says what it waited for. */

/** Polls `check` until it is true; fails naming `what` once `timeoutMs` passed. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await delay(intervalMs);
  }
}

/** Settles like `promise`, or fails naming `what` once `timeoutMs` passed. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 60_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A seeded random generator for a test's random choices; the seed comes from `TEST_SEED` or the
 * time, and is part of every failure message through `seedNote`.
 */
export function testRandom(): { random: () => number; seed: number; seedNote: string } {
  const given = Number(Deno.env.get("TEST_SEED"));
  const seed = Number.isSafeInteger(given) && given > 0 ? given : Date.now() % 2 ** 31;
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { random, seed, seedNote: `(rerun with TEST_SEED=${seed})` };
}
