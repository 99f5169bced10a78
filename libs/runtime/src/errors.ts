/** A configuration error: one readable line, no stack trace for users. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
