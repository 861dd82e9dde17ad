/**
 * Database failures classified: what postgres.js threw, as a kind, its SQLSTATE or system code and
 * the column or constraint it names; never the server's text, which can quote a value.
 */
import { ClassifiedError } from "../failure.ts";
import { permissionFailure } from "../permission_error.ts";

/** SQLSTATEs and classes a retry can heal: connections, conflicts, resources, shutdowns, timeouts. */
const TRANSIENT_CLASSES = new Set(["08", "40", "53", "57", "58", "XX"]);
const TRANSIENT_STATES = new Set([
  "55P03", // lock_not_available
  "55006", // object_in_use
  "25P03", // idle_in_transaction_session_timeout
  "25006", // read_only_sql_transaction: a primary turned standby during a failover
  "26000", // invalid_sql_statement_name: a prepared statement lost with its session
]);

/** SQLSTATEs no retry heals, and the setting or step that must change. */
const PERMANENT_STATES: Readonly<Record<string, string>> = {
  "28000": "the server refused the user (invalid_authorization_specification)",
  "28P01": "the server refused the password (invalid_password)",
  "3D000": "the database does not exist (invalid_catalog_name)",
  "42501": "the user lacks a privilege the ingest needs (insufficient_privilege)",
};

/** postgres.js and system codes of a lost or refused connection: transient. */
const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
]);

/** postgres.js and TLS codes of a connection that will never be accepted: permanent. */
const REFUSED_CONNECTION =
  /^(SASL_|AUTH_TYPE_|ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_)/;

/** Names of the SQLSTATEs a poison message most often raises, for readable quarantine reasons. */
const CONDITION_NAMES: Readonly<Record<string, string>> = {
  "22001": "string_data_right_truncation",
  "22003": "numeric_value_out_of_range",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "22021": "character_not_in_repertoire",
  "22P02": "invalid_text_representation",
  "22P05": "untranslatable_character",
  "23502": "not_null_violation",
  "23503": "foreign_key_violation",
  "23505": "unique_violation",
  "23514": "check_violation",
  "23P01": "exclusion_violation",
  "54000": "program_limit_exceeded",
  "P0001": "raise_exception",
};

/**
 * Classifies an error postgres.js threw. Permanent: authentication, a missing database, a missing
 * privilege, a schema that does not match (class 42), a TLS or SASL failure. Transient: a lost or
 * refused connection, serialization failures and deadlocks, timeouts, shutdowns, lack of
 * resources. Poison: anything else, which may depend on the data written (a constraint, a trigger,
 * an encoding), so the writer isolates the message that causes it.
 */
export function classifyDatabaseError(error: unknown): ClassifiedError {
  if (error instanceof ClassifiedError) return error;
  const denied = permissionFailure(error);
  if (denied) return denied;
  const details = error as {
    code?: unknown;
    column_name?: unknown;
    constraint_name?: unknown;
  } | null;
  const raw = typeof details?.code === "string" ? details.code : undefined;
  const code = raw !== undefined && /^[\w.-]{1,64}$/.test(raw) ? raw : "unknown";
  const sqlState = /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (sqlState !== undefined) {
    const known = PERMANENT_STATES[sqlState];
    if (known !== undefined || sqlState.startsWith("42")) {
      const problem = known ?? "the schema does not match what the migrations create";
      return new ClassifiedError(`Cannot use DATABASE_URL: ${problem} (SQLSTATE ${sqlState})`, {
        kind: "permanent",
        code: sqlState,
        cause: error,
      });
    }
    if (TRANSIENT_CLASSES.has(sqlState.slice(0, 2)) || TRANSIENT_STATES.has(sqlState)) {
      return new ClassifiedError(`SQLSTATE ${sqlState}`, {
        kind: "transient",
        code: sqlState,
        cause: error,
      });
    }
    const field = [details?.column_name, details?.constraint_name].find(
      (name): name is string => typeof name === "string" && /^[\w$ .-]{1,128}$/.test(name),
    );
    const name = CONDITION_NAMES[sqlState];
    const message = `database error ${sqlState}${name ? ` (${name})` : ""}` +
      (field === undefined ? "" : ` on "${field}"`);
    return new ClassifiedError(message, { kind: "poison", code: sqlState, field, cause: error });
  }
  if (CONNECTION_CODES.has(code)) {
    return new ClassifiedError(code, { kind: "transient", code, cause: error });
  }
  if (REFUSED_CONNECTION.test(code)) {
    return new ClassifiedError(
      `Cannot use DATABASE_URL: the server refused the connection's security (${code})`,
      { kind: "permanent", code, cause: error },
    );
  }
  // A driver error without a SQLSTATE that is not about the connection (a value it cannot send,
  // too many parameters) depends on the batch: isolate it like a poison message.
  const name = error instanceof Error ? error.name : "error";
  return new ClassifiedError(`driver error ${code === "unknown" ? name : code}`, {
    kind: "poison",
    code: code === "unknown" ? name : code,
    cause: error,
  });
}
