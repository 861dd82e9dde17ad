import assert from "node:assert/strict";
import { reveal } from "../lib/cli/reveal.ts";
import { ConfigError } from "../lib/config_error.ts";
import { fetchReveal, recordReveal, revealWithAudit } from "../lib/store/reveal.ts";
import { setRevealPolicy } from "../lib/store/reveal_policy.ts";
import { seal, vaultContext } from "../lib/vault/envelope.ts";
import { openEntries } from "../lib/vault/open_entries.ts";
import { type CliResult, runCli, runDeno } from "./cli.ts";
import { type GovernanceSetup, governanceSetup, REASON } from "./governance_fixture.ts";
import { countRows, DATABASE_KIND } from "./test_database.ts";

const UNKNOWN = `ip1_${"A".repeat(32)}`;

function refusedSilently(result: CliResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split("\n").length, 1, "one line of error");
}

function jsonLines(stdout: string): unknown[] {
  return stdout.trim().split("\n").map((line) => JSON.parse(line));
}

async function sessionUser(s: GovernanceSetup): Promise<string> {
  const [row] = await s.db<{ user: string }[]>`SELECT session_user AS user`;
  return row?.user ?? "";
}

Deno.test(`revealWithAudit() with openEntries() recovers the originals and records the reveal (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const ip = await s.token("ip", "203.0.113.7");
  const device = await s.token("device_id", "AAAA-1111-2222");
  const result = await revealWithAudit(s.db, {
    subject: { tokens: [ip, device, ip, UNKNOWN] },
    reason: REASON,
    osUser: "alice-laptop",
    bulk: false,
    masked: false,
  }, { open: (entries) => openEntries(s.full, entries) });
  assert.deepEqual(result.revealed, [
    { token: ip, field: "ip", value: "203.0.113.7" },
    { token: device, field: "device_id", value: "AAAA-1111-2222" },
  ]);
  assert.deepEqual(result.unknown, [UNKNOWN]);
  const [row, ...more] = await s.audit();
  assert.equal(more.length, 0);
  assert.deepEqual(
    {
      ...row,
      at: undefined,
      prevHash: undefined,
      rowHash: undefined,
    },
    {
      id: result.auditId,
      at: undefined,
      kind: "reveal",
      dbUser: await sessionUser(s),
      osUser: "alice-laptop",
      reason: REASON,
      detail: null,
      userId: null,
      bulk: false,
      masked: false,
      refId: null,
      tokenCount: 2,
      tokens: [ip, device],
      unknownTokens: [UNKNOWN],
      prevHash: undefined,
      rowHash: undefined,
    },
  );
  assert.ok(Math.abs(Date.now() - Date.parse(row?.at ?? "")) < 60_000, row?.at);
});

Deno.test(`a reveal's sealed entries are fetched only after its audit row commits (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const request = {
    subject: { tokens: [await s.token("ip", "198.51.100.20")] },
    reason: REASON,
    osUser: "mallory",
    bulk: false,
    masked: false,
  };
  await assert.rejects(
    s.db.begin(async (tx) => await fetchReveal(tx, await recordReveal(tx, request))),
    (error: Error) => error instanceof ConfigError && /commit it first/.test(error.message),
  );
  let rolledBack = "";
  await assert.rejects(
    s.db.begin(async (tx) => {
      rolledBack = await recordReveal(tx, request);
      throw new Error("rolled back on purpose");
    }),
    /on purpose/,
  );
  assert.notEqual(rolledBack, "");
  await assert.rejects(fetchReveal(s.db, rolledBack), /no such reveal/);
  assert.equal(await countRows(s.db, "reveal_audit"), 0, "nothing recorded, nothing fetched");
  const committed = await recordReveal(s.db, request);
  const entries = await fetchReveal(s.db, committed);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.field, "ip");
});

Deno.test(`reveal prints one JSON line per token, reports unknown ones, and audits both (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const ip = await s.token("ip", "2001:db8:abcd:12::1");
  const device = await s.token("device_id", "BOB-9");
  const result = await runCli(
    ["reveal", "--token", ip, "--token", UNKNOWN, "--token", device, "--reason", REASON],
    { env: s.env({ USER: "anyone" }) },
  );
  assert.equal(result.code, 1, "an unknown token makes the exit code 1");
  assert.deepEqual(jsonLines(result.stdout), [
    { token: ip, field: "ip", value: "2001:db8:abcd:12::1" },
    { token: device, field: "device_id", value: "BOB-9" },
  ]);
  assert.equal(result.stderr.trim(), `vaultline: unknown token "${UNKNOWN}"`);
  const [row] = await s.audit();
  assert.equal(row?.dbUser, await sessionUser(s), "the database's session user is the identity");
  assert.equal(row?.osUser, "anyone", "$USER is kept only as a claim");
  assert.deepEqual(row?.tokens, [ip, device]);
  assert.deepEqual(row?.unknownTokens, [UNKNOWN]);
});

Deno.test(`deno task reveal forwards its arguments as typed (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const device = await s.token("device_id", "C-77");
  const result = await runDeno(
    ["task", "-q", "reveal", "--token", device, "--reason", "two words"],
    { env: s.env() },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { token: device, field: "device_id", value: "C-77" });
  const [row] = await s.audit();
  assert.equal(row?.reason, "two words");
});

Deno.test("reveal's options refuse what cannot be a reveal, never quoting a would-be token", async (t) => {
  const env = { DATABASE_URL: "postgres://u@db/x", VAULT_KEYRING: "/k.json" };
  const token = `dev1_${"b".repeat(32)}`;
  const cases: [string, string[], RegExp][] = [
    ["no --reason", ["--token", token], /^Missing --reason/],
    ["a blank --reason", ["--token", token, "--reason", " \t "], /^Missing --reason/],
    ["nothing to reveal", ["--reason", REASON], /^Missing --token, --stdin or --user-id/],
    [
      "--user-id with --token",
      ["--user-id", "u", "--token", token, "--reason", REASON],
      /one person/,
    ],
    ["--user-id with --stdin", ["--user-id", "u", "--stdin", "--reason", REASON], /one person/],
    ["a blank --user-id", ["--user-id", " ", "--reason", REASON], /^Invalid --user-id/],
    [
      "an ip as --token",
      ["--token", token, "--token", "203.0.113.7", "--reason", REASON],
      /^Invalid --token \(the 2nd\)/,
    ],
    [
      "an unknown --format",
      ["--token", token, "--reason", REASON, "--format", "xml"],
      /^Invalid --format "xml"/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(() => reveal.parse(args, env), (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes("203.0.113.7"), error.message);
        return true;
      });
    });
  }
  const parsed = reveal.parse(
    [
      "--stdin",
      "--token",
      token,
      "--reason",
      ` ${REASON} `,
      "--bulk",
      "--masked",
      "--format",
      "csv",
      "--allow-readable-keyring",
    ],
    env,
  );
  assert.deepEqual(
    { ...parsed, settings: undefined },
    {
      settings: undefined,
      keyringPath: "/k.json",
      subject: { tokens: [token], stdin: true },
      reason: REASON,
      bulk: true,
      masked: true,
      format: "csv",
      allowReadableKeyring: true,
    },
  );
});

Deno.test(`reveal refuses, printing nothing and recording nothing, without a keyring or an acceptable reason (${DATABASE_KIND})`, async (t) => {
  await using s = await governanceSetup();
  const ip = await s.token("ip", "203.0.113.7");
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ["no keyring", ["--reason", REASON], { VAULT_KEYRING: "" }, /VAULT_KEYRING/],
    [
      "a keyring file that does not exist",
      ["--reason", REASON, "--keyring", "/nonexistent/k.json"],
      {},
      /Cannot read keyring "\/nonexistent\/k\.json": file not found/,
    ],
    ["an ingest keyring", ["--reason", REASON], { VAULT_KEYRING: s.ingestPath }, /ingest keyring/],
    ["a reason of one zero-width space", ["--reason", "\u200b"], {}, /at least 8 visible/],
    ["a reason of one letter", ["--reason", "x"], {}, /at least 8 visible/],
    [
      "seven visible characters padded with invisible ones",
      ["--reason", "INC\u200b-\u2060471\u00a0\u3000"],
      {},
      /at least 8 visible/,
    ],
    ["a stdin line that is no token", ["--stdin", "--reason", REASON], {}, /line 2 of stdin/],
  ];
  for (const [name, args, env, pattern] of cases) {
    await t.step(name, async () => {
      const stdin = args.includes("--stdin") ? `${ip}\n203.0.113.7\n` : undefined;
      const result = await runCli(["reveal", ...(stdin ? [] : ["--token", ip]), ...args], {
        env: s.env(env),
        ...(stdin ? { stdin } : {}),
      });
      refusedSilently(result, 2, pattern);
      assert.ok(!result.stderr.includes("203.0.113.7"), result.stderr);
    });
  }
  assert.equal(await countRows(s.db, "reveal_audit"), 0);
});

Deno.test(`reveal follows the database's policy: a reason pattern, and --bulk past the limit (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  assert.equal(
    await setRevealPolicy(s.db, {
      minReasonChars: 8,
      reasonPattern: "^[A-Z]+-[0-9]+: ",
      bulkLimit: 2,
    }),
    true,
  );
  const tokens = [
    await s.token("ip", "203.0.113.7"),
    await s.token("ip", "198.51.100.20"),
    await s.token("device_id", "C-77"),
  ];
  const args = tokens.flatMap((token) => ["--token", token]);
  const offPattern = await runCli(["reveal", ...args.slice(0, 2), "--reason", "looking into it"], {
    env: s.env(),
  });
  refusedSilently(
    offPattern,
    2,
    /Invalid reason: the policy wants it to match "\^\[A-Z\]\+-\[0-9\]\+: "/,
  );
  const tooMany = await runCli(["reveal", ...args, "--reason", REASON], { env: s.env() });
  refusedSilently(tooMany, 2, /Cannot reveal 3 tokens without bulk: the policy allows 2 at once/);
  const person = await runCli(["reveal", "--user-id", "alice", "--reason", REASON], {
    env: s.env(),
  });
  refusedSilently(person, 2, /Cannot reveal 3 tokens without bulk/);
  const bulk = await runCli(["reveal", ...args, "--reason", REASON, "--bulk"], { env: s.env() });
  assert.equal(bulk.code, 0, bulk.stderr);
  assert.equal(jsonLines(bulk.stdout).length, 3);
  const rows = await s.audit();
  assert.deepEqual(rows.map((row) => [row.kind, row.bulk, row.tokenCount]), [
    ["policy", false, 0],
    ["reveal", true, 3],
  ]);
  assert.match(rows[0]?.detail ?? "", /bulk_limit=2/);
});

Deno.test(`reveal refuses forged and altered vault entries, printing nothing and recording the failure (${DATABASE_KIND})`, async (t) => {
  await using s = await governanceSetup();
  const aliceIp = await s.token("ip", "2001:db8:abcd:12::1");
  const bobIp = await s.token("ip", "203.0.113.7");
  const carolIp = await s.token("ip", "198.51.100.20");
  const bobDevice = await s.token("device_id", "BOB-9");
  const carolDevice = await s.token("device_id", "C-77");
  const aliceDevice = await s.token("device_id", "AAAA-1111-2222");
  const cases: [string, string, RegExp, () => Promise<unknown>][] = [
    [
      "a value sealed afresh for an existing token with only the ingest keyring",
      carolDevice,
      /value does not match the token/,
      async () => {
        const dataKey = await s.ingest.keks[0].newDataKey();
        const forged = seal(dataKey, {
          context: vaultContext(carolDevice, "device_id"),
          plaintext: "6.6.6.6",
        });
        await s.db`INSERT INTO vault_data_keys (id, kek_id, wrapped_key)
                   VALUES (${dataKey.id}, ${dataKey.kekId}, ${dataKey.wrapped})`;
        await s.db`UPDATE pii_vault SET data_key_id = ${dataKey.id}, nonce = ${forged.nonce},
                     ciphertext = ${forged.ciphertext} WHERE token = ${carolDevice}`;
      },
    ],
    [
      "a flipped ciphertext bit",
      carolIp,
      /failed authentication/,
      () =>
        s.db`UPDATE pii_vault SET ciphertext = set_byte(ciphertext, 3, get_byte(ciphertext, 3) # 1)
             WHERE token = ${carolIp}`,
    ],
    [
      "ciphertexts swapped between two rows",
      bobIp,
      /failed authentication/,
      () =>
        s.db`UPDATE pii_vault v SET ciphertext = o.ciphertext, nonce = o.nonce FROM pii_vault o
             WHERE (v.token, o.token) IN ((${bobIp}, ${bobDevice}), (${bobDevice}, ${bobIp}))`,
    ],
    [
      "the wrong data key",
      aliceIp,
      /failed authentication/,
      () =>
        s.db`UPDATE pii_vault SET data_key_id = (SELECT data_key_id FROM pii_vault WHERE token = ${carolIp})
             WHERE token = ${aliceIp}`,
    ],
  ];
  for (const [name, token, pattern, tamper] of cases) {
    await t.step(name, async () => {
      const before = await runCli(["reveal", "--token", token, "--reason", REASON], {
        env: s.env(),
      });
      assert.equal(before.code, 0, before.stderr);
      await tamper();
      const result = await runCli(
        ["reveal", "--token", aliceDevice, "--token", token, "--reason", REASON],
        { env: s.env() },
      );
      refusedSilently(result, 1, new RegExp(`Cannot reveal token "${token}": .*${pattern.source}`));
      assert.ok(!result.stderr.includes("6.6.6.6"));
      const [request, failure] = (await s.audit()).slice(-2);
      assert.equal(request?.kind, "reveal");
      assert.deepEqual(
        [failure?.kind, failure?.refId, failure?.reason],
        ["reveal_failed", request?.id, REASON],
      );
      assert.match(failure?.detail ?? "", pattern);
    });
  }
});

Deno.test(`reveal reads tokens from stdin, prints CSV, and masks values, audited as masked (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const tokens = {
    aliceDevice: await s.token("device_id", "AAAA-1111-2222"),
    carolIp: await s.token("ip", "198.51.100.20"),
    aliceIp6: await s.token("ip", "2001:db8:abcd:12::1"),
    bobDevice: await s.token("device_id", "BOB-9"),
    carolDevice: await s.token("device_id", "C-77"),
  };
  const result = await runCli(
    [
      "reveal",
      "--token",
      tokens.aliceDevice,
      "--stdin",
      "--reason",
      REASON,
      "--format",
      "csv",
      "--masked",
    ],
    {
      env: s.env(),
      stdin:
        `${tokens.carolIp}\n\n  ${tokens.aliceIp6}  \r\n${tokens.bobDevice}\n${tokens.carolDevice}`,
    },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trimEnd().split("\n"), [
    "token,field,value",
    `${tokens.aliceDevice},device_id,2222`,
    `${tokens.carolIp},ip,198.51.100.0/24`,
    `${tokens.aliceIp6},ip,2001:db8:abcd::/48`,
    `${tokens.bobDevice},device_id,OB-9`,
    `${tokens.carolDevice},device_id,`,
  ]);
  const [row] = await s.audit();
  assert.equal(row?.masked, true);
  assert.equal(row?.tokenCount, 5);
});

Deno.test(`reveal --user-id reveals every token of that person's rows (${DATABASE_KIND})`, async () => {
  await using s = await governanceSetup();
  const result = await runCli(["reveal", "--user-id", "alice", "--reason", REASON], {
    env: s.env(),
  });
  assert.equal(result.code, 0, result.stderr);
  const byValue = (a: { value: string }, b: { value: string }) => a.value < b.value ? -1 : 1;
  assert.deepEqual((jsonLines(result.stdout) as { value: string }[]).sort(byValue), [
    {
      token: await s.token("ip", "2001:db8:abcd:12::1"),
      field: "ip",
      value: "2001:db8:abcd:12::1",
    },
    { token: await s.token("ip", "203.0.113.7"), field: "ip", value: "203.0.113.7" },
    {
      token: await s.token("device_id", "AAAA-1111-2222"),
      field: "device_id",
      value: "AAAA-1111-2222",
    },
  ]);
  const nobody = await runCli(["reveal", "--user-id", "nobody", "--reason", REASON], {
    env: s.env(),
  });
  assert.equal(nobody.code, 0, nobody.stderr);
  assert.equal(nobody.stdout, "");
  assert.match(nobody.stderr, /nothing to reveal: no vault entry for user "nobody"/);
  const rows = await s.audit();
  assert.deepEqual(rows.map((row) => [row.kind, row.userId, row.tokenCount]), [
    ["reveal", "alice", 3],
    ["reveal", "nobody", 0],
  ]);
});
