// Request validation: every RPC checks its input and answers INVALID_ARGUMENT naming the field.
import { Code, ConnectError } from "@connectrpc/connect";

/** Throws INVALID_ARGUMENT: `<field>: <problem>`. */
export function invalidArgument(field: string, problem: string): never {
  throw new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

export function notFound(what: string): never {
  throw new ConnectError(`${what} not found`, Code.NotFound);
}

export function requireNonEmpty(field: string, value: string): string {
  if (value.trim() === "") invalidArgument(field, "must not be empty");
  return value;
}

/** An integer in [min, max]; protobuf zero means "unset" when `defaultValue` is given. */
export function requireRange(field: string, value: number, min: number, max: number, defaultValue?: number): number {
  if (value === 0 && defaultValue !== undefined) return defaultValue;
  if (!Number.isFinite(value) || value < min || value > max) {
    invalidArgument(field, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** A text field of at most `maxChars` characters (the service's limits.maxTextChars); non-empty unless `optional`. */
export function requireText(field: string, value: string, maxChars: number, optional = false): string {
  if (value.length > maxChars) invalidArgument(field, `at most ${maxChars} characters (limits.maxTextChars), got ${value.length}`);
  return optional ? value : requireNonEmpty(field, value);
}
