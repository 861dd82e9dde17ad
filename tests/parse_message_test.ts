import assert from "node:assert/strict";
import {
  isRejection,
  type Login,
  parseAppVersion,
  type ParsedLogin,
  parseMessage,
} from "../lib/record/parse_message.ts";
import { sampleBodies } from "./vault_fixture.ts";
import { testRandom } from "./wait.ts";

const SENT_AT = new Date("2026-11-24T23:59:59.999Z");

const VALID = {
  user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae",
  app_version: "2.3.0",
  device_type: "android",
  ip: "199.172.111.135",
  locale: "RU",
  device_id: "593-47-5928",
};

function parse(body: unknown) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return parseMessage({ messageId: "m-1", body: text, sentAt: SENT_AT });
}

function login(body: unknown): Login {
  const parsed = parse(body);
  assert.ok(!isRejection(parsed), `rejected: ${isRejection(parsed) ? parsed.reason : ""}`);
  return (parsed as ParsedLogin).login;
}

function reason(body: unknown): string {
  const parsed = parse(body);
  assert.ok(isRejection(parsed), "expected a rejection");
  return parsed.reason;
}

Deno.test("parseMessage() takes the 100 sample messages to 99 logins and 1 rejection", () => {
  const lines = sampleBodies();
  assert.equal(lines.length, 100);
  const parsed = lines.map((body, i) =>
    parseMessage({ messageId: `m-${i}`, body, sentAt: SENT_AT })
  );
  const logins = parsed.filter((p): p is ParsedLogin => !isRejection(p)).map((p) => p.login);
  const rejections = parsed.filter(isRejection);
  assert.equal(logins.length, 99);
  assert.deepEqual(rejections.map((r) => r.messageId), ["m-12"]);
  assert.equal(
    rejections[0]!.reason,
    "user_id is missing; app_version is missing; device_type is missing; ip is missing; device_id is missing",
  );
  assert.equal(logins.filter((l) => l.locale === null).length, 29);
  assert.deepEqual(logins.slice(0, 4).map((l) => l.appVersion), [20300, 206, 20201, 9600]);
  assert.ok(logins.every((l) => l.createDate === "2026-11-24"));
});

Deno.test("parseAppVersion() reads major.minor[.patch] with parts 0 to 99", async (t) => {
  const cases: [string, number | undefined][] = [
    ["2.3.0", 20300],
    ["0.2.6", 206],
    ["0.96", 9600],
    ["99.99.99", 999999],
    ["0.0", 0],
    ["1", undefined],
    ["1.2.3.4", undefined],
    ["1.100", undefined],
    ["1.-1", undefined],
    ["1.2a", undefined],
    ["1..2", undefined],
    [" 1.2", undefined],
    ["1.2.", undefined],
    ["v1.2", undefined],
    ["1e1.2", undefined],
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => assert.equal(parseAppVersion(input), expected));
  }
});

Deno.test("parseMessage() keeps a null or missing locale as null, never 'None'", () => {
  assert.equal(login({ ...VALID, locale: null }).locale, null);
  const { locale: _, ...withoutLocale } = VALID;
  assert.equal(login(withoutLocale).locale, null);
  assert.equal(login(VALID).locale, "RU");
});

Deno.test("parseMessage() ignores extra fields and dates the row by the UTC send time", () => {
  const parsed = login({ ...VALID, extra: { nested: true } });
  assert.deepEqual(parsed, {
    userId: VALID.user_id,
    deviceType: "android",
    ip: VALID.ip,
    deviceId: VALID.device_id,
    locale: "RU",
    appVersion: 20300,
    createDate: "2026-11-24",
  });
});

Deno.test("parseMessage() rejects what cannot become a row, naming fields and never values", async (t) => {
  const secret = "10.9.8.7";
  const cases: [string, unknown, string][] = [
    ["not JSON", `{"ip": "${secret}"`, "body is not valid JSON"],
    ["an array", [VALID], "body is not a JSON object"],
    ["null", "null", "body is not a JSON object"],
    ["a missing field", { ...VALID, device_id: undefined }, "device_id is missing"],
    ["an empty field", { ...VALID, ip: "" }, "ip must be a non-empty string"],
    ["a number", { ...VALID, device_id: 5 }, "device_id must be a non-empty string"],
    ["a null required field", { ...VALID, user_id: null }, "user_id must be a non-empty string"],
    ["a numeric locale", { ...VALID, locale: 7 }, "locale must be a string or null"],
    [
      "a bad app_version",
      { ...VALID, app_version: "2.3.x" },
      "app_version must be major.minor or major.minor.patch, each part 0 to 99",
    ],
    [
      "a long user_id",
      { ...VALID, user_id: "u".repeat(129) },
      "user_id is longer than 128 characters",
    ],
    [
      "a long device_type",
      { ...VALID, device_type: "d".repeat(33) },
      "device_type is longer than 32 characters",
    ],
    ["a long locale", { ...VALID, locale: "é".repeat(33) }, "locale is longer than 32 characters"],
    ["a NUL", { ...VALID, user_id: "a\0b" }, "user_id contains a NUL character"],
    [
      "a lone surrogate",
      `{"user_id":"\\ud800","app_version":"1.0","device_type":"x","ip":"${secret}","device_id":"d"}`,
      "user_id is not valid Unicode",
    ],
    [
      "several problems",
      { ip: secret, app_version: 3 },
      "user_id is missing; app_version must be a non-empty string; device_type is missing; device_id is missing",
    ],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, () => assert.equal(reason(body), expected));
  }
  // Widths count characters, as varchar does, not UTF-16 units.
  assert.equal(login({ ...VALID, locale: "😀".repeat(32) }).locale, "😀".repeat(32));
});

Deno.test("parseMessage() never repeats a value in its reason, whatever the body holds", () => {
  const { random, seedNote } = testRandom();
  const marker = "SECRET";
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const value = (): unknown =>
    pick([
      () => `${marker}-${random()}`,
      () => `${marker}`.repeat(1 + Math.floor(random() * 100)),
      () => `${marker}\0`,
      () => `${marker}\ud800`,
      () => "",
      () => Math.floor(random() * 1000),
      () => null,
      () => [`${marker}`],
      () => ({ nested: marker }),
      () => `${Math.floor(random() * 200)}.${marker}`,
    ])();
  const fields = ["user_id", "app_version", "device_type", "ip", "locale", "device_id", marker];
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    const body = Object.fromEntries(fields.filter(() => random() < 0.8).map((f) => [f, value()]));
    const parsed = parse(body);
    if (!isRejection(parsed)) continue;
    rejected++;
    assert.ok(!parsed.reason.includes(marker), `${parsed.reason} ${seedNote}`);
  }
  assert.ok(rejected > 1000, `only ${rejected} of 2000 hostile bodies were rejected ${seedNote}`);
});
