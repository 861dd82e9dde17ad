/** SQS failures classified: what the AWS SDK threw, as a kind and a code, never its text. */
import { ClassifiedError } from "../failure.ts";
import { permissionFailure } from "../permission_error.ts";

/** Codes no retry heals: the queue is missing, or the credentials are missing, refused or denied. */
const QUEUE_MISSING = new Set([
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
  "NonExistentQueue",
  "InvalidAddress",
]);
const CREDENTIALS_REFUSED = new Set([
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "SignatureDoesNotMatch",
  "IncompleteSignature",
  "MissingAuthenticationToken",
  "InvalidAccessKeyId",
  "ExpiredToken",
  "ExpiredTokenException",
]);
const ACCESS_DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "AuthorizationError",
  "InvalidSecurity",
  "KmsAccessDenied",
  "KMS.AccessDeniedException",
  "KmsDisabled",
  "KMS.DisabledException",
  "KmsNotFound",
  "KMS.NotFoundException",
  "KmsInvalidState",
  "KMS.KMSInvalidStateException",
  "KmsInvalidKeyUsage",
  "KmsOptInRequired",
]);

/**
 * Classifies an error the AWS SDK threw during `action` on `queueUrl`. Permanent: the queue does
 * not exist, the credentials are missing or refused, access is denied. Anything else (connection
 * refused or reset, throttling, timeouts, server errors) is transient.
 */
export function classifySqsError(
  error: unknown,
  { action, queueUrl }: { action: string; queueUrl: string },
): ClassifiedError {
  if (error instanceof ClassifiedError) return error;
  const denied = permissionFailure(error);
  if (denied) return denied;
  const details = error as {
    name?: unknown;
    code?: unknown;
    Code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  } | null;
  const codes = [details?.Code, details?.name, details?.code].filter(
    (value): value is string => typeof value === "string" && /^[\w.:-]{1,128}$/.test(value),
  );
  const code = codes.find((c) => c !== "Error") ?? "unknown";
  const status = details?.$metadata?.httpStatusCode;
  const permanent = (message: string) =>
    new ClassifiedError(message, { kind: "permanent", code, cause: error });
  if (codes.some((c) => QUEUE_MISSING.has(c))) {
    return permanent(`Cannot use SQS_QUEUE_URL "${queueUrl}": the queue does not exist (${code})`);
  }
  if (codes.includes("CredentialsProviderError")) {
    return permanent(
      `Cannot reach SQS_QUEUE_URL "${queueUrl}": no AWS credentials found (${code}); set ` +
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the process a role",
    );
  }
  if (codes.some((c) => CREDENTIALS_REFUSED.has(c))) {
    return permanent(
      `Cannot reach SQS_QUEUE_URL "${queueUrl}": AWS refused the credentials (${code})`,
    );
  }
  // Not every 403 is permanent: SQS answers OverLimit (too many messages in flight) with one.
  if (codes.some((c) => ACCESS_DENIED.has(c))) {
    return permanent(
      `Cannot ${action} on SQS_QUEUE_URL "${queueUrl}": access denied (${code}); ` +
        "grant the credentials sqs:ReceiveMessage, DeleteMessage, ChangeMessageVisibility and " +
        "GetQueueAttributes on the queue (and kms:Decrypt on its key, if encrypted)",
    );
  }
  const http = typeof status === "number" ? ` (HTTP ${status})` : "";
  return new ClassifiedError(`${code}${http}`, {
    kind: "transient",
    code,
    cause: error,
  });
}
