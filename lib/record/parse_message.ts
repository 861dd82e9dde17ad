/** The record rules: a queue message body becomes a login, or a rejection that names its fields. */

/** A message as the queue delivered it. */
export interface InboundMessage {
  readonly messageId: string;
  readonly body: string;
  /** The SQS `SentTimestamp`. */
  readonly sentAt: Date;
}

/** A valid login event, its personal fields still in the clear. */
export interface Login {
  readonly userId: string;
  readonly deviceType: string;
  readonly ip: string;
  readonly deviceId: string;
  readonly locale: string | null;
  readonly appVersion: number;
  /** The UTC date the message was sent, `YYYY-MM-DD`. */
  readonly createDate: string;
}

/** A message that became a login. */
export interface ParsedLogin {
  readonly messageId: string;
  readonly login: Login;
}

/** A message that cannot become a row; `reason` names fields, never their values. */
export interface Rejection {
  readonly messageId: string;
  readonly sentAt: Date;
  readonly reason: string;
  readonly body: string;
}

export type ParsedMessage = ParsedLogin | Rejection;

/** Column widths of `user_logins`, in characters. */
export const COLUMN_WIDTH = { user_id: 128, device_type: 32, locale: 32 } as const;

const REQUIRED = ["user_id", "app_version", "device_type", "ip", "device_id"] as const;

/** Applies the record rules to one message. */
export function parseMessage(message: InboundMessage): ParsedMessage {
  const reject = (reason: string): Rejection => ({
    messageId: message.messageId,
    sentAt: message.sentAt,
    reason,
    body: message.body,
  });
  let value: unknown;
  try {
    value = JSON.parse(message.body);
  } catch {
    return reject("body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return reject("body is not a JSON object");
  }
  const fields = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of REQUIRED) {
    const field = fields[name];
    if (field === undefined) problems.push(`${name} is missing`);
    else if (typeof field !== "string" || field === "") {
      problems.push(`${name} must be a non-empty string`);
    }
  }
  const locale = fields.locale ?? null;
  if (locale !== null && typeof locale !== "string") {
    problems.push("locale must be a string or null");
  }
  for (const name of [...REQUIRED, "locale"] as const) {
    const field = fields[name];
    if (typeof field !== "string") continue;
    if (!field.isWellFormed()) problems.push(`${name} is not valid Unicode`);
    // Postgres text cannot hold NUL; such a value would fail the whole batch.
    else if (field.includes("\0")) problems.push(`${name} contains a NUL character`);
    else if (name in COLUMN_WIDTH) {
      const width = COLUMN_WIDTH[name as keyof typeof COLUMN_WIDTH];
      if ([...field].length > width) problems.push(`${name} is longer than ${width} characters`);
    }
  }
  let appVersion: number | undefined;
  if (typeof fields.app_version === "string" && fields.app_version !== "") {
    appVersion = parseAppVersion(fields.app_version);
    if (appVersion === undefined) {
      problems.push("app_version must be major.minor or major.minor.patch, each part 0 to 99");
    }
  }
  // appVersion is undefined only when a problem was recorded above.
  if (problems.length > 0 || appVersion === undefined) return reject(problems.join("; "));
  return {
    messageId: message.messageId,
    login: {
      userId: fields.user_id as string,
      deviceType: fields.device_type as string,
      ip: fields.ip as string,
      deviceId: fields.device_id as string,
      locale: locale as string | null,
      appVersion,
      createDate: message.sentAt.toISOString().slice(0, 10),
    },
  };
}

/** `major.minor[.patch]` as `major*10000 + minor*100 + patch`; undefined when not of that form. */
export function parseAppVersion(value: string): number | undefined {
  const parts = value.split(".");
  if (parts.length < 2 || parts.length > 3) return undefined;
  const numbers = parts.map((part) => (/^\d+$/.test(part) ? Number(part) : NaN));
  if (numbers.some((n) => !(n <= 99))) return undefined;
  const [major = 0, minor = 0, patch = 0] = numbers;
  return major * 10000 + minor * 100 + patch;
}

/** True when a parsed message was rejected by the record rules. */
export function isRejection(message: ParsedMessage): message is Rejection {
  return "reason" in message;
}
