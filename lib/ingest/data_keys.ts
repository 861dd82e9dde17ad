/** When the ingest moves to a new data key: after so many values, or after so long. */
import type { DataKey, KekProvider } from "../vault/key_provider.ts";
import type { Clock } from "./clock.ts";

/**
 * Values one data key seals by default. NIST SP 800-38D (§8.3) caps AES-GCM with random 96-bit
 * nonces at 2^32 encryptions per key; 2^16 stays far below it (nonce collision odds under 2^-65)
 * and bounds what one leaked data key exposes to 65,536 values.
 */
export const DATA_KEY_MAX_USES = 2 ** 16;

/** The hard ceiling on `maxUses`: NIST SP 800-38D's 2^32 random-nonce invocations per key. */
export const DATA_KEY_USES_LIMIT = 2 ** 32;

/**
 * How long one data key is used by default: an hour, so a data key held in the ingest's memory
 * covers at most an hour of values however slow the queue, at the cost of one wrap an hour.
 */
export const DATA_KEY_MAX_AGE_MS = 60 * 60 * 1000;

/** When to move to a new data key. */
export interface DataKeyPolicy {
  /** Values a data key may seal, at most `DATA_KEY_USES_LIMIT` (default `DATA_KEY_MAX_USES`). */
  readonly maxUses?: number | undefined;
  /** How long a data key is used after it was made (default `DATA_KEY_MAX_AGE_MS`). */
  readonly maxAgeMs?: number | undefined;
  /** Defaults to the system clock; tests pass a fake one. */
  readonly clock?: Clock | undefined;
}

/**
 * Hands out data keys from `kek` for the ingest: the returned function gives a data key with room
 * to seal `count` more values, made within the last `maxAgeMs`, and a new one otherwise.
 */
export function dataKeySource(
  kek: KekProvider,
  policy: DataKeyPolicy = {},
): (count: number) => Promise<DataKey> {
  const uses = policy.maxUses ?? DATA_KEY_MAX_USES;
  const maxAgeMs = policy.maxAgeMs ?? DATA_KEY_MAX_AGE_MS;
  const now = () => (policy.clock ? policy.clock.now() : Date.now());
  if (!Number.isInteger(uses) || uses < 1 || uses > DATA_KEY_USES_LIMIT) {
    throw new RangeError(`Invalid data key uses "${uses}": expected 1 to 2^32`);
  }
  let current: { key: DataKey; left: number; madeAt: number } | undefined;
  let making: Promise<DataKey> | undefined;
  return async (count) => {
    if (count > uses) throw new RangeError(`Cannot seal ${count} values under one data key`);
    // Batches are sealed one after another, but a caller that overlaps them shares one new key.
    while (making) await making.catch(() => {});
    if (!current || current.left < count || now() - current.madeAt >= maxAgeMs) {
      making = kek.newDataKey();
      try {
        current = { key: await making, left: uses, madeAt: now() };
      } finally {
        making = undefined;
      }
    }
    current.left -= count;
    return current.key;
  };
}
