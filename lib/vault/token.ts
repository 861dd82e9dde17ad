/** Deterministic keyed tokens: equal values under one token key give equal tokens, everywhere. */
import { isIPv4, isIPv6 } from "node:net";
import type { TokenKeyProvider } from "./key_provider.ts";

/** The fields of a login that carry personal data. */
export type PiiField = "ip" | "device_id";

/** Each field's token prefix: tokens say what they stand for, and under which key version. */
const PREFIX: Readonly<Record<PiiField, string>> = { ip: "ip", device_id: "dev" };

/** Bytes of the HMAC kept in a token: 192 bits, well above the 128-bit floor. */
const MAC_BYTES = 24;

const encoder = new TextEncoder();

/** A personal value and the field it came in. */
export interface PiiValue {
  readonly field: PiiField;
  readonly value: string;
}

/** Tokenizes one value with `key`: `ip1_` or `dev1_` then 32 base64url characters of its MAC. */
export async function tokenize(key: TokenKeyProvider, value: PiiValue): Promise<string> {
  const [token] = await key.tokenize([value]);
  if (token === undefined) throw new Error("The token key returned no token");
  return token;
}

/**
 * What a token key MACs for a value: the field name, a NUL and the canonical value. The field
 * separates domains: one string as ip and as device_id gives two tokens.
 */
export function macMessage({ field, value }: PiiValue): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${field}\0${canonicalize(field, value)}`);
}

/** The token of a value from its HMAC-SHA256 (at least 24 bytes) under key `version`. */
export function formatToken(field: PiiField, version: number, mac: Uint8Array): string {
  const body = mac.subarray(0, MAC_BYTES).toBase64({ alphabet: "base64url", omitPadding: true });
  return `${PREFIX[field]}${version}_${body}`;
}

/** The form of `value` that is tokenized and kept: IP addresses normalized, anything else as given. */
export function canonicalize(field: PiiField, value: string): string {
  return field === "ip" ? canonicalIp(value) : value;
}

/** The field a token stands for, read from its prefix; undefined when it is not a token. */
export function tokenField(token: string): PiiField | undefined {
  const match = /^(ip|dev)\d{1,2}_[\w-]{32}$/.exec(token);
  if (!match) return undefined;
  return match[1] === "ip" ? "ip" : "device_id";
}

/**
 * IPv4 as dotted decimal; IPv6 in RFC 5952 form (lowercase, longest zero run compressed), with
 * IPv4-mapped addresses as their IPv4 form. A string that is no IP address is kept as given, so a
 * malformed ip still gets a stable token instead of losing the login.
 */
function canonicalIp(value: string): string {
  const trimmed = value.trim();
  if (isIPv4(trimmed)) return trimmed;
  if (!isIPv6(trimmed) || trimmed.includes("%")) return value;
  // The URL parser serializes IPv6 hosts in RFC 5952 form.
  const host = new URL(`http://[${trimmed}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const high = parseInt(mapped[1] ?? "0", 16);
  const low = parseInt(mapped[2] ?? "0", 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}
