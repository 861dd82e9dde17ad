import assert from "node:assert/strict";
import { isRejection, parseMessage } from "../lib/record/parse_message.ts";
import { generateLogins, seededRandom } from "../lib/sandbox/generate_logins.ts";
import { testRandom } from "./wait.ts";

Deno.test("generateLogins() gives every field of a valid message the sample queue's shape", () => {
  const { random, seedNote } = testRandom();
  const bodies = generateLogins(5000, { malformedShare: 0, random });
  const shapes: Record<string, RegExp> = {
    user_id: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    app_version: /^\d\.\d(\.\d|\d)$/,
    device_type: /^(android|ios)$/,
    ip: /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/,
    device_id: /^\d{3}-\d{2}-\d{4}$/,
  };
  for (const body of bodies) {
    const login = JSON.parse(body) as Record<string, unknown>;
    assert.deepEqual(
      Object.keys(login).sort(),
      ["app_version", "device_id", "device_type", "ip", "locale", "user_id"],
    );
    for (const [field, shape] of Object.entries(shapes)) {
      assert.match(String(login[field]), shape, `${field} of ${body} ${seedNote}`);
    }
    const octets = String(login.ip).split(".").map(Number);
    assert.ok(octets[0]! >= 1 && octets.every((o) => o <= 255), `${login.ip} ${seedNote}`);
    assert.ok(login.locale === null || /^[A-Z]{2}$/.test(String(login.locale)), body);
    assert.ok(!isRejection(parseMessage({ messageId: "m", body, sentAt: new Date() })), body);
  }
});

Deno.test("generateLogins() makes about the share of malformed messages asked for", () => {
  const bodies = generateLogins(4000, { malformedShare: 0.25, random: seededRandom(3) });
  const rejected =
    bodies.filter((body) => isRejection(parseMessage({ messageId: "m", body, sentAt: new Date() })))
      .length;
  assert.ok(rejected > 850 && rejected < 1150, `${rejected} of 4000 rejected at 25%`);
});

Deno.test("generateLogins() with one seed gives the same messages, and another seed others", () => {
  const a = generateLogins(50, { malformedShare: 0.1, random: seededRandom(42) });
  const b = generateLogins(50, { malformedShare: 0.1, random: seededRandom(42) });
  const c = generateLogins(50, { malformedShare: 0.1, random: seededRandom(43) });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(new Set(a).size, 50);
});
