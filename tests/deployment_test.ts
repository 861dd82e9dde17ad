/**
 * There is no Docker engine or cluster here: these tests read the Dockerfile, the compose file and
 * the Kubernetes manifests, and check them against the code they run.
 */
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { DEFAULT_OPS_PORT, OPS_PATHS } from "../lib/ops/http.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { AWS_SDK_VARIABLES, ENVIRONMENT_VARIABLES } from "../lib/settings.ts";
import { COMMANDS } from "../main.ts";
import { waitFor } from "./wait.ts";

const ROOT = new URL("..", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));
const KNOWN_VARIABLES = new Set<string>([...ENVIRONMENT_VARIABLES, ...AWS_SDK_VARIABLES]);

type Service = {
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
};

async function compose(): Promise<{
  services: Record<string, Service>;
  configs: Record<string, { content: string }>;
  volumes: Record<string, unknown>;
}> {
  return parse(await read("docker-compose.yml"), { merge: true });
}

/** The vaultline command line a service runs, as `main.ts` would receive it. */
function vaultlineArgs(service: Service): string[] | undefined {
  const line = [...(service.entrypoint ?? []), ...(service.command ?? [])];
  if (line[0] === "vaultline") return line.slice(1);
  if (line[0] === "sh") {
    const words = line.slice(2).join(" ").split(/\s+/);
    const at = words.indexOf("vaultline");
    return at < 0 ? undefined : words.slice(at + 1);
  }
  return service.image === "vaultline:local" ? line : undefined;
}

/** Parses `args` with the command `main.ts` would pick; throws what the binary would print. */
function parseCommandLine(args: readonly string[], env: Record<string, string>): string {
  const command = COMMANDS.find((c) => c.name.split(" ").every((word, i) => args[i] === word));
  assert.ok(command, `no command "${args.join(" ")}"`);
  command.parse(args.slice(command.name.split(" ").length), env);
  return command.name;
}

function pinned(image: string): boolean {
  return /^[\w./-]+(:[\w.-]*\d[\w.-]*|@sha256:[0-9a-f]{64})$/.test(image) &&
    !/:latest$/.test(image);
}

Deno.test("docker-compose.yml: every vaultline service runs a command that parses with the environment it passes", async () => {
  const { services } = await compose();
  const ran: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    const args = vaultlineArgs(service);
    if (!args) continue;
    const env = service.environment ?? {};
    for (const variable of Object.keys(env)) {
      assert.ok(
        KNOWN_VARIABLES.has(variable),
        `${name} passes ${variable}, which vaultline never reads`,
      );
    }
    // Tools take their arguments from `docker compose run --rm reveal|archive ...`.
    const tools: Record<string, string[]> = {
      reveal: ["--token", `ip1_${"a".repeat(32)}`, "--reason", "INC-1: compose"],
      archive: ["--before", "2026-01", "--to", "s3://vaultline-archive/logins"],
    };
    const line = [...args, ...(tools[name] ?? [])];
    ran.push(parseCommandLine(line, env));
  }
  assert.deepEqual(ran.sort(), ["archive", "keys init", "migrate", "reveal", "run", "seed"]);
});

Deno.test("docker-compose.yml: dependencies exist, images are pinned, ports and volumes match", async () => {
  const { services, volumes } = await compose();
  for (const [name, service] of Object.entries(services)) {
    for (const dependency of Object.keys(service.depends_on ?? {})) {
      assert.ok(dependency in services, `${name} depends on a missing service "${dependency}"`);
    }
    assert.ok(service.image, `${name} names no image`);
    assert.ok(
      service.build !== undefined || pinned(service.image),
      `${name}: "${service.image}" is not pinned`,
    );
    for (const volume of service.volumes ?? []) {
      const source = volume.split(":")[0]!;
      assert.ok(
        source.startsWith(".") || source in volumes,
        `${name} mounts undeclared "${source}"`,
      );
    }
  }
  const ingest = services.ingest!;
  assert.deepEqual(ingest.command, ["run", "--http", `0.0.0.0:${DEFAULT_OPS_PORT}`]);
  assert.deepEqual(ingest.ports, [`127.0.0.1:${DEFAULT_OPS_PORT}:${DEFAULT_OPS_PORT}`]);
  // The ingest holds only the ingest keyring; the full keyring is for keys and reveal alone.
  const keyringVolumes = (s: Service) => (s.volumes ?? []).filter((v) => v.includes("keyring"));
  assert.deepEqual(keyringVolumes(ingest), ["ingest-keyring:/run/secrets/vaultline:ro"]);
  assert.equal(ingest.environment?.VAULT_KEYRING, "/run/secrets/vaultline/ingest.keyring.json");
  assert.deepEqual(keyringVolumes(services.reveal!), ["full-keyring:/keys/full:ro"]);
  for (const [name, service] of Object.entries(services)) {
    if (name === "keys" || name === "reveal") continue;
    assert.ok(
      !keyringVolumes(service).some((v) => v.startsWith("full-keyring")),
      `${name} sees the full keyring`,
    );
  }
});

Deno.test("docker-compose.yml: the emulator's login-queue moves a message to its dead-letter queue after 10 receives", async () => {
  const { configs } = await compose();
  const init = JSON.parse(configs["fauxqs-init"]!.content);
  await using sqs = await EmbeddedSqs.start({ init });
  const queue = sqs.openQueue("login-queue");
  const dlq = sqs.openQueue("login-queue-dlq");
  try {
    await queue.send(["poison"]);
    for (let receive = 1; receive <= 10; receive++) {
      const got = await queue.receive({ max: 1, waitSeconds: 1, visibilitySeconds: 0 });
      assert.equal(got.length, 1, `receive ${receive}`);
    }
    // SQS moves it at the receive after the last allowed one.
    assert.deepEqual(await queue.receive({ max: 1, waitSeconds: 0, visibilitySeconds: 0 }), []);
    await waitFor(
      "the message to reach the dead-letter queue",
      async () => (await dlq.depth()).visible === 1,
    );
    assert.equal((await queue.depth()).visible, 0);
  } finally {
    queue.close();
    dlq.close();
  }
});

Deno.test("Dockerfile: pinned official Deno base, cached dependencies, compiled binary, non-root, health check on /healthz", async () => {
  const dockerfile = await read("Dockerfile");
  const version = /^ARG DENO_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
  const { tasks } = JSON.parse(await read("deno.json"));
  assert.ok(version && pinned(`denoland/deno:${version}`));
  const ci = await read(".ci/run");
  assert.ok(ci.includes(`DENO_VERSION=${version}`), "the image's Deno is not the one CI tests");
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(froms, ["denoland/deno:${DENO_VERSION}", "denoland/deno:${DENO_VERSION}"]);
  const lines = dockerfile.split("\n");
  const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
  assert.ok(
    at(/^RUN deno install --frozen$/) < at(/^COPY lib lib$/),
    "dependencies are not cached before the code",
  );
  assert.ok(at(/^RUN deno task compile/) > at(/^COPY lib lib$/));
  assert.ok(typeof tasks.compile === "string" && tasks.compile.includes("--output vaultline"));
  assert.match(dockerfile, /^USER deno$/m);
  assert.ok(at(/^USER deno$/) > lines.findLastIndex((line) => line.startsWith("FROM ")));
  assert.match(dockerfile, new RegExp(`^EXPOSE ${DEFAULT_OPS_PORT}$`, "m"));
  assert.ok(
    dockerfile.includes(`http://127.0.0.1:${DEFAULT_OPS_PORT}${OPS_PATHS.health}`),
    "the health check does not probe the ops endpoint's health path",
  );
  assert.match(
    dockerfile,
    new RegExp(`^CMD \\["run", "--http", "0\\.0\\.0\\.0:${DEFAULT_OPS_PORT}"\\]$`, "m"),
  );
});

Deno.test("deploy/k8s: env, ports, probes, grace period, secrets and scaling match the code and each other", async () => {
  const documents = (await Promise.all(
    ["deployment.yaml", "pdb.yaml", "scaledobject.yaml", "secrets.example.yaml"].map(async (file) =>
      parseAllDocuments(await read(`deploy/k8s/${file}`)).map((d) => d.toJS())
    ),
  )).flat();
  const kind = (k: string) => documents.filter((d) => d.kind === k);
  const [deployment] = kind("Deployment");
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  assert.ok(pinned(container.image), `${container.image} is not pinned`);
  for (const { name } of container.env) {
    assert.ok(KNOWN_VARIABLES.has(name), `env ${name} is never read`);
  }
  const env = Object.fromEntries(
    container.env.map((
      e: { name: string; value?: string },
    ) => [e.name, e.value ?? "postgres://u@db/x"]),
  );
  assert.equal(parseCommandLine(container.args, env), "run");
  // As many ingest threads as the CPU limit: the container would see the node's cores.
  assert.deepEqual(container.args, [
    "run",
    "--http",
    `0.0.0.0:${DEFAULT_OPS_PORT}`,
    "--workers",
    String(Number(container.resources.limits.cpu)),
  ]);
  assert.deepEqual(container.ports, [{ name: "metrics", containerPort: DEFAULT_OPS_PORT }]);
  assert.equal(container.livenessProbe.httpGet.path, OPS_PATHS.health);
  assert.equal(container.readinessProbe.httpGet.path, OPS_PATHS.ready);
  assert.equal(
    deployment.spec.template.metadata.annotations["prometheus.io/path"],
    OPS_PATHS.metrics,
  );
  const { run } = await import("../lib/cli/run.ts");
  const stopSeconds = run.parse([], env).stopTimeoutSeconds;
  assert.ok(
    pod.terminationGracePeriodSeconds > stopSeconds,
    "the grace period is not above the stop bound",
  );
  // The secrets referenced exist with the keys referenced.
  const secrets = new Map(kind("Secret").map((s) => [s.metadata.name, s.stringData]));
  for (const e of container.env) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) assert.ok(ref.key in (secrets.get(ref.name) ?? {}), `secret ${ref.name}/${ref.key}`);
  }
  const keyring = pod.volumes.find((v: { name: string }) => v.name === "ingest-keyring").secret;
  assert.ok(secrets.get(keyring.secretName)?.["ingest.keyring.json"] !== undefined);
  const mount = container.volumeMounts.find((m: { name: string }) => m.name === "ingest-keyring");
  assert.equal(env.VAULT_KEYRING, `${mount.mountPath}/${keyring.items[0].path}`);
  // Scaling and disruption budget point at this Deployment and its pods.
  const labels = deployment.spec.template.metadata.labels;
  assert.equal(kind("ScaledObject")[0].spec.scaleTargetRef.name, deployment.metadata.name);
  assert.equal(kind("ScaledObject")[0].spec.triggers[0].metadata.queueURL, env.SQS_QUEUE_URL);
  assert.deepEqual(kind("PodDisruptionBudget")[0].spec.selector.matchLabels, labels);
  assert.deepEqual(deployment.spec.selector.matchLabels, labels);
});
