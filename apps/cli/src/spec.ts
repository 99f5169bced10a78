// Run specs (and trainer job specs) as YAML (or JSON) files: the protobuf JSON form of RunSpec or
// JobSpec, so every field has exactly the name it has in the contracts. Unknown or mistyped fields fail with the field named; the
// orchestrator then validates values (CreateRun → INVALID_ARGUMENT naming the field).
import { readFileSync } from "node:fs";
import { fromJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { RunSpecSchema, type RunSpec } from "@isrdpo/contracts";
import { parse as parseYaml } from "yaml";

export class SpecError extends Error {
  override name = "SpecError";
}

export function parseRunSpec(text: string, source: string): RunSpec {
  return parseSpec(RunSpecSchema, text, source);
}

/** A spec file of any contract message (RunSpec, JobSpec), mistakes named by field path. */
export function parseSpec<D extends DescMessage>(schema: D, text: string, source: string): MessageShape<D> {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new SpecError(`${source}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new SpecError(`${source}: expected a mapping of ${schema.name} fields`);
  try {
    return fromJson(schema, value as JsonValue);
  } catch (err) {
    const path = locate(schema, value as JsonValue);
    throw new SpecError(`${source}: ${path ? `${path}: ` : ""}${(err as Error).message}`);
  }
}

/** The path of the first field whose value does not decode (protobuf-es names only the last type). */
function locate(schema: DescMessage, json: JsonValue, prefix = ""): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const path = prefix ? `${prefix}.${key}` : key;
    try {
      fromJson(schema, { [key]: value });
    } catch {
      const field = schema.fields.find((f) => f.jsonName === key || f.name === key);
      const nested = field && "message" in field ? field.message : undefined;
      const items = Array.isArray(value) ? value.map((v, i) => [`${path}[${i}]`, v] as const) : [[path, value] as const];
      if (nested)
        for (const [p, v] of items) {
          try {
            fromJson(nested, v);
          } catch {
            return locate(nested, v, p) ?? p;
          }
        }
      return path;
    }
  }
  return undefined;
}

export function readRunSpec(path: string): RunSpec {
  return readSpec(RunSpecSchema, path);
}

export function readSpec<D extends DescMessage>(schema: D, path: string): MessageShape<D> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SpecError(`${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  return parseSpec(schema, text, path);
}
