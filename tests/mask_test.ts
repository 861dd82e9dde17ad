import assert from "node:assert/strict";
import { formatRevealed } from "../lib/cli/reveal.ts";
import { maskValue } from "../lib/vault/mask.ts";

Deno.test("maskValue() keeps an IPv4 address's /24, an IPv6 address's /48, a device id's last 4", async (t) => {
  const cases: [string, "ip" | "device_id", string, string | null][] = [
    ["IPv4", "ip", "203.0.113.77", "203.0.113.0/24"],
    ["IPv6", "ip", "2001:db8:abcd:12::1", "2001:db8:abcd::/48"],
    ["IPv6 with a short prefix", "ip", "2001:db8::7", "2001:db8::/48"],
    ["IPv6 with zeros in the prefix", "ip", "::1", "::/48"],
    ["IPv6 with all groups", "ip", "fe80:1:2:3:4:5:6:7", "fe80:1:2::/48"],
    ["an ip that is no address", "ip", "not-an-ip", null],
    ["a device id", "device_id", "593-47-5928", "5928"],
    ["a device id of 5 characters", "device_id", "BOB-9", "OB-9"],
    ["a device id its last 4 would show whole", "device_id", "C-77", null],
    ["a device id in astral characters", "device_id", "id-😀😀😀😀😀", "😀😀😀😀"],
  ];
  for (const [name, field, value, masked] of cases) {
    await t.step(name, () => assert.equal(maskValue(field, value), masked));
  }
});

Deno.test("formatRevealed() prints JSON lines, or CSV with a header, quoting what needs it", () => {
  const revealed = [
    { token: "ip1_a", field: "ip" as const, value: "203.0.113.77" },
    { token: "dev1_b", field: "device_id" as const, value: 'he said "hi", twice' },
  ];
  assert.deepEqual(formatRevealed(revealed, { format: "json", masked: false }), [
    '{"token":"ip1_a","field":"ip","value":"203.0.113.77"}',
    '{"token":"dev1_b","field":"device_id","value":"he said \\"hi\\", twice"}',
  ]);
  assert.deepEqual(formatRevealed(revealed, { format: "csv", masked: false }), [
    "token,field,value",
    "ip1_a,ip,203.0.113.77",
    'dev1_b,device_id,"he said ""hi"", twice"',
  ]);
  assert.deepEqual(formatRevealed(revealed, { format: "json", masked: true }), [
    '{"token":"ip1_a","field":"ip","value":"203.0.113.0/24"}',
    '{"token":"dev1_b","field":"device_id","value":"wice"}',
  ]);
});
