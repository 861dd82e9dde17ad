/**
 * How many more messages the receivers may ask for (`--max-messages`): counted in this thread, or
 * shared by the ingest's workers through memory they all see.
 */

/** Hands out the right to receive messages, and takes back what a receive did not use. */
export interface MessageQuota {
  /** Takes up to `max`; returns how many were taken (0 once the quota is used). */
  take(max: number): number;
  /** Returns `count` taken and not received. */
  giveBack(count: number): void;
}

/** A quota of `limit` messages for this thread alone; `Infinity` is no limit. */
export function localQuota(limit: number): MessageQuota {
  let left = limit;
  return {
    take(max) {
      const taken = Math.max(0, Math.min(max, left));
      left -= taken;
      return taken;
    },
    giveBack(count) {
      left += count;
    },
  };
}

/** Memory for a quota of `limit` messages that several workers share (`sharedQuota`). */
export function sharedQuotaCell(limit: number): BigInt64Array<SharedArrayBuffer> {
  const cell = new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
  cell[0] = BigInt(limit);
  return cell;
}

/** The quota held in `cell`, taken from atomically so that workers never overdraw it together. */
export function sharedQuota(cell: BigInt64Array<SharedArrayBuffer>): MessageQuota {
  return {
    take(max) {
      for (;;) {
        const left = Atomics.load(cell, 0);
        const taken = left < BigInt(max) ? left : BigInt(max);
        if (taken <= 0n) return 0;
        if (Atomics.compareExchange(cell, 0, left, left - taken) === left) return Number(taken);
      }
    },
    giveBack(count) {
      Atomics.add(cell, 0, BigInt(count));
    },
  };
}
