/** A condition no retry heals: a bad setting, a missing queue, denied access. Exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
