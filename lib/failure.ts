/**
 * Failures classified where they happen. The SQS and database edges turn SDK and driver errors
 * into a kind and a code; the ingest decides from the kind alone whether to stop, wait or isolate.
 */

/**
 * What can be done about a failure: nothing, so the run ends (`permanent`); wait and retry
 * (`transient`); or find the message that causes it and set that one aside (`poison`).
 */
export type FailureKind = "permanent" | "transient" | "poison";

/**
 * An SQS or database failure with its class. The message is safe to log: it never repeats an SDK's
 * or driver's text, which can quote a value. A permanent one names the setting to fix.
 */
export class ClassifiedError extends Error {
  override name = "ClassifiedError";
  readonly kind: FailureKind;
  /** The SQLSTATE, the SQS error code, or the system error code (`ECONNREFUSED`). */
  readonly code: string;
  /** The column or constraint a database error names, when it names one. */
  readonly field: string | undefined;

  constructor(
    message: string,
    options: { kind: FailureKind; code: string; field?: string | undefined; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.kind = options.kind;
    this.code = options.code;
    this.field = options.field;
  }
}

/** True for a failure no retry heals: the run ends with exit code 2. */
export function isPermanent(error: unknown): error is ClassifiedError {
  return error instanceof ClassifiedError && error.kind === "permanent";
}

/** A one-line description of `error` that is safe to log: a classified message, else a name. */
export function describeError(error: unknown): string {
  if (error instanceof ClassifiedError) return error.message;
  // An unclassified error's text may quote a value; its name and code may not.
  const code = (error as { code?: unknown } | null)?.code;
  const name = error instanceof Error ? error.name : typeof error;
  return typeof code === "string" && /^[\w.-]{1,64}$/.test(code) ? `${name} ${code}` : name;
}
