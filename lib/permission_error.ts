/** A Deno permission the process was not given: no retry heals it. */
import { ClassifiedError } from "./failure.ts";

/**
 * When `error` is Deno refusing an operation for want of a permission, a permanent
 * `ClassifiedError` saying which (`Requires read access to "..."`: a path or a name, no value).
 */
export function permissionFailure(error: unknown): ClassifiedError | undefined {
  if (!(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)) {
    return undefined;
  }
  const what = /^Requires [\w-]+ access to "[^"\n]{1,256}"/.exec(error.message)?.[0] ??
    "Requires a permission";
  return new ClassifiedError(
    `Cannot go on: the process lacks a permission (${what}); see the README's permissions`,
    { kind: "permanent", code: error.name, cause: error },
  );
}
