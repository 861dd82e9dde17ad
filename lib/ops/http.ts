/** The operations endpoint: liveness, readiness and Prometheus metrics over HTTP. */
import { ConfigError } from "../config_error.ts";

/** The paths the endpoint serves; probes and scrapers are configured with these. */
export const OPS_PATHS = { health: "/healthz", ready: "/readyz", metrics: "/metrics" } as const;

/** The port of the examples and deployment files (Prometheus exporters' range). */
export const DEFAULT_OPS_PORT = 9464;

/** What the endpoint asks the running command. */
export interface OpsProbes {
  /** Undefined when ready; otherwise why not, one line without secrets. */
  ready(): Promise<string | undefined>;
  /** The `/metrics` body. */
  metrics(): Promise<string>;
}

/** Parses `--http`: `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (all interfaces). */
export function parseListenAddress(value: string): { hostname: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[\w.-]*):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || !(port >= 1 && port <= 65_535)) {
    throw new ConfigError(`Invalid --http "${value}": expected HOST:PORT, e.g. 127.0.0.1:9464`);
  }
  const host = match[1] ?? "";
  return { hostname: host === "" ? "0.0.0.0" : host.replace(/^\[|\]$/g, ""), port };
}

/** Serves the endpoint on `address` until `close()`; resolves once it listens. */
export async function serveOps(
  address: { hostname: string; port: number },
  probes: OpsProbes,
): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
    new Response(body, { status, headers: { "content-type": type } });
  let listening = () => {};
  const listened = new Promise<void>((resolve) => (listening = resolve));
  const server = Deno.serve({ ...address, onListen: () => listening() }, async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method !== "GET") return text("method not allowed\n", 405);
    try {
      switch (pathname) {
        case OPS_PATHS.health:
          return text("ok\n");
        case OPS_PATHS.ready: {
          const reason = await probes.ready();
          return reason === undefined ? text("ready\n") : text(`not ready: ${reason}\n`, 503);
        }
        case OPS_PATHS.metrics:
          return text(await probes.metrics(), 200, "text/plain; version=0.0.4; charset=utf-8");
        default:
          return text("not found\n", 404);
      }
    } catch {
      return text("probe failed\n", 503);
    }
  });
  await listened;
  return server;
}
