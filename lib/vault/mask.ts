/** Partial reveals for support work: enough of a value to recognise it, not the value. */
import { isIPv4, isIPv6 } from "node:net";
import type { PiiField } from "./token.ts";

/** Characters of a device id a masked reveal keeps, from its end. */
export const DEVICE_ID_KEPT = 4;

/**
 * `value` (canonical, as revealed) masked: an IPv4 address to its /24, an IPv6 address to its
 * /48, a device id to its last 4 characters. Null when nothing can be shown safely: an ip that is
 * no address, or a device id of 4 characters or fewer, which its last 4 would reveal whole.
 */
export function maskValue(field: PiiField, value: string): string | null {
  if (field === "device_id") {
    const chars = [...value];
    return chars.length > DEVICE_ID_KEPT ? chars.slice(-DEVICE_ID_KEPT).join("") : null;
  }
  if (isIPv4(value)) return `${value.split(".").slice(0, 3).join(".")}.0/24`;
  if (isIPv6(value) && !value.includes("%") && !value.includes(".")) {
    const groups = expandIPv6(value).slice(0, 3);
    // The URL parser prints IPv6 in RFC 5952 form, the zero run compressed.
    const prefix = new URL(`http://[${[...groups, "0", "0", "0", "0", "0"].join(":")}]/`)
      .hostname.slice(1, -1);
    return `${prefix}/48`;
  }
  return null;
}

/** The eight groups of an IPv6 address without an embedded IPv4 part. */
function expandIPv6(value: string): string[] {
  const [head = "", tail] = value.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right];
}
