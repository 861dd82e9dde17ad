/** The reveal policy the definer functions enforce, kept in the one-row table `reveal_policy`. */
import { ConfigError } from "../config_error.ts";
import type { Queryable } from "./database.ts";

/** What a reason must be, and how many tokens one reveal may name without `--bulk`. */
export interface RevealPolicy {
  /** Visible characters a reason needs at least (whitespace and invisible ones do not count). */
  readonly minReasonChars: number;
  /** A PostgreSQL regular expression every reason must match, or null for none. */
  readonly reasonPattern: string | null;
  /** Tokens one reveal may name before it needs `--bulk`. */
  readonly bulkLimit: number;
}

/** The policy a fresh schema starts with (the defaults of `reveal_policy`'s columns). */
export const DEFAULT_REVEAL_POLICY: RevealPolicy = {
  minReasonChars: 8,
  reasonPattern: null,
  bulkLimit: 1000,
};

/** The policy in force. */
export async function readRevealPolicy(db: Queryable): Promise<RevealPolicy> {
  const [row] = await db<RevealPolicy[]>`
    SELECT min_reason_chars, reason_pattern, bulk_limit FROM reveal_policy`;
  if (row === undefined) throw new Error("Cannot read the reveal policy: reveal_policy is empty");
  return row;
}

/**
 * Sets the policy, as the schema owner; a change is recorded in the audit. Resolves to whether
 * it changed. A pattern PostgreSQL cannot compile is a `ConfigError` naming VAULT_REASON_PATTERN.
 */
export async function setRevealPolicy(db: Queryable, policy: RevealPolicy): Promise<boolean> {
  try {
    const [row] = await db<{ changed: boolean }[]>`
      SELECT vaultline_set_reveal_policy(${policy.minReasonChars}, ${policy.reasonPattern},
                                         ${policy.bulkLimit}) AS changed`;
    return row?.changed === true;
  } catch (error) {
    // 2201B: invalid_regular_expression.
    if ((error as { code?: unknown } | null)?.code !== "2201B") throw error;
    throw new ConfigError(
      `Invalid VAULT_REASON_PATTERN "${policy.reasonPattern}": ${(error as Error).message}`,
      { cause: error },
    );
  }
}
