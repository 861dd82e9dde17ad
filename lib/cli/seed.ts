/** `vaultline seed`: send generated login messages to the queue. */
import { ConfigError } from "../config_error.ts";
import { readSettings, type Settings } from "../settings.ts";
import { asString, defineCommand, parseInteger, parseOptions } from "./command.ts";
import { openQueueOnly } from "./services.ts";

/** What `seed` was asked to send. */
export interface SeedOptions {
  readonly settings: Settings;
  readonly count: number;
  readonly malformedShare: number;
  /** Seeds the generator, for a reproducible queue; undefined draws from Math.random. */
  readonly seed: number | undefined;
}

export const seed = defineCommand<SeedOptions>({
  name: "seed",
  summary: "Send generated login messages to the queue",
  help: `Usage: vaultline seed [--count N] [--malformed SHARE] [--seed N]

Sends N generated login messages to SQS_QUEUE_URL (or the sandbox queue), a share of them
malformed, for demos and load tests.

Options:
  --count N           messages to send (default 1000)
  --malformed SHARE   share of malformed messages, 0 to 1 (default 0.01)
  --seed N            seed the generator: the same seed sends the same messages
  -h, --help          show this help`,

  parse(args, env) {
    const values = parseOptions(args, {
      count: { type: "string" },
      malformed: { type: "string" },
      seed: { type: "string" },
    });
    const seedText = asString(values.seed);
    const malformedText = asString(values.malformed) ?? "0.01";
    const malformed = Number(malformedText);
    if (!(malformed >= 0 && malformed <= 1)) {
      throw new ConfigError(`Invalid --malformed "${malformedText}": expected a share from 0 to 1`);
    }
    return {
      settings: readSettings(env),
      count: parseInteger("--count", asString(values.count), {
        min: 1,
        max: 10_000_000,
        fallback: 1000,
      }),
      malformedShare: malformed,
      seed: seedText === undefined ? undefined : parseInteger("--seed", seedText, {
        min: 1,
        max: 2 ** 32 - 1,
        fallback: 1,
      }),
    };
  },

  async execute(options) {
    const { generateLogins, seededRandom } = await import("../sandbox/generate_logins.ts");
    await using target = await openQueueOnly(options.settings);
    const bodies = generateLogins(options.count, {
      malformedShare: options.malformedShare,
      ...(options.seed === undefined ? {} : { random: seededRandom(options.seed) }),
    });
    await target.queue.send(bodies);
    console.error(`Sent ${bodies.length} messages to "${target.queue.url}"`);
    return 0;
  },
});
