// Run specs as YAML (or JSON) files: the protobuf JSON form of RunSpec, so every field has exactly
// the name it has in the contracts. Unknown or mistyped fields fail with the field named; the
// orchestrator then validates values (CreateRun → INVALID_ARGUMENT naming the field).
import { readFileSync } from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { RunSpecSchema, type RunSpec } from "@isrdpo/contracts";
import { parse as parseYaml } from "yaml";

export class SpecError extends Error {
  override name = "SpecError";
}

export function parseRunSpec(text: string, source: string): RunSpec {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new SpecError(`${source}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SpecError(`${source}: expected a mapping of RunSpec fields`);
  try {
    return fromJson(RunSpecSchema, value as JsonValue);
  } catch (err) {
    // protobuf-es names the message and field: "cannot decode field isrdpo.v1.RunSpec.iterations from JSON: ..."
    throw new SpecError(`${source}: ${(err as Error).message}`);
  }
}

export function readRunSpec(path: string): RunSpec {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SpecError(`${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  return parseRunSpec(text, path);
}
