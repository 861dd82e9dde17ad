/** Postgres errors that no retry heals, as the `ConfigError`s the command line reports with exit 2. */
import { ConfigError } from "../config_error.ts";

/**
 * `error` as a `ConfigError` when the database refused by vaultline's rules (SQLSTATE `VL…`,
 * raised by the functions in `sql/`) or for want of a privilege (42501), with `hint` after the
 * latter; any other error unchanged.
 */
export function refusal(error: unknown, hint: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== "string") return error;
  if (code.startsWith("VL")) return new ConfigError(error.message, { cause: error });
  if (code === "42501") return new ConfigError(`${error.message}: ${hint}`, { cause: error });
  return error;
}
