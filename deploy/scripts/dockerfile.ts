// Reads deploy/docker/Dockerfile and .dockerignore without Docker (there is no engine on the machines
// that build and test this repo): the stages and their instructions, and which files of the repo make
// up the build context. Enough to check the Dockerfile's COPY sources, entry point and user, and to
// replay its dependency install outside a container (deploy/test/image.test.ts).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./helm.ts";

export const DOCKERFILE = join(REPO_ROOT, "deploy/docker/Dockerfile");
export const DOCKERIGNORE = join(REPO_ROOT, ".dockerignore");

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY... */
  cmd: string;
  /** --flag=value options (COPY --from, --chown...). */
  flags: Record<string, string>;
  /** The rest of the line, flags removed. */
  rest: string;
  line: number;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, a: string | undefined, b: string | undefined) => vars[(a ?? b)!] ?? m,
  );
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: Array<{ text: string; line: number }> = [];
  let buf = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (!buf && /^\s*(#.*)?$/.test(line)) return; // comment or blank line (parser directives included)
    if (buf && /^\s*#/.test(line)) return; // comment inside a continuation
    if (!buf) start = i + 1;
    if (/\\\s*$/.test(line)) {
      buf += `${line.replace(/\\\s*$/, "")} `;
    } else {
      logical.push({ text: (buf + line).trim(), line: start });
      buf = "";
    }
  });
  if (buf) throw new Error(`Dockerfile ends inside a line continuation (line ${start})`);

  const df: Dockerfile = { globalArgs: {}, stages: [] };
  for (const { text: l, line } of logical) {
    const m = /^([A-Za-z]+)\s*(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile line ${line}: cannot parse "${l}"`);
    const cmd = m[1]!.toUpperCase();
    let rest = m[2] ?? "";
    const flags: Record<string, string> = {};
    if (["COPY", "ADD", "FROM", "RUN"].includes(cmd)) {
      let f: RegExpExecArray | null;
      while ((f = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest))) {
        flags[f[1]!] = f[2] ?? "true";
        rest = rest.slice(f[0].length);
      }
    }
    if (cmd === "FROM") {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!fm) throw new Error(`Dockerfile line ${line}: cannot parse FROM "${rest}"`);
      df.stages.push({ name: fm[2] ?? String(df.stages.length), from: substitute(fm[1]!, df.globalArgs), instructions: [] });
      continue;
    }
    const stage = df.stages[df.stages.length - 1];
    if (!stage) {
      if (cmd !== "ARG") throw new Error(`Dockerfile line ${line}: ${cmd} before the first FROM`);
      const am = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest);
      if (am) df.globalArgs[am[1]!] = (am[2] ?? "").replace(/^"(.*)"$/, "$1");
      continue;
    }
    stage.instructions.push({ cmd, flags, rest, line });
  }
  return df;
}

export function readDockerfile(): Dockerfile {
  return parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
}

export function stage(df: Dockerfile, name: string): Stage {
  const s = df.stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage ${name}`);
  return s;
}

/** The last value of an instruction in a stage, following `FROM <earlier stage>` chains. */
export function lastOf(df: Dockerfile, name: string, cmd: string): Instruction | undefined {
  const s = stage(df, name);
  const own = s.instructions.filter((i) => i.cmd === cmd).at(-1);
  if (own) return own;
  return df.stages.some((x) => x.name === s.from) ? lastOf(df, s.from, cmd) : undefined;
}

/** The exec (JSON) form of ENTRYPOINT / CMD; throws on the shell form (it would break SIGTERM). */
export function execForm(i: Instruction | undefined, what: string): string[] {
  if (!i) throw new Error(`Dockerfile has no ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(i.rest);
  } catch {
    throw new Error(`Dockerfile line ${i.line}: ${what} must use the exec form ["..."], got: ${i.rest}`);
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new Error(`Dockerfile line ${i.line}: ${what} is not a list of strings`);
  return v as string[];
}

/** COPY sources and destination (sources relative to the build context). */
export function copyParts(i: Instruction): { sources: string[]; dest: string } {
  const parts = i.rest.trim().startsWith("[") ? (JSON.parse(i.rest) as string[]) : i.rest.trim().split(/\s+/);
  if (parts.length < 2) throw new Error(`Dockerfile line ${i.line}: COPY needs a source and a destination`);
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

// ---------------------------------------------------------------------------------------------------
// .dockerignore: Docker's rules (patterns from the context root, `*` within a path segment, `**` any
// number of segments, `!` re-includes, the last matching line wins, a match on a folder covers its
// contents).
// ---------------------------------------------------------------------------------------------------
export interface IgnoreRule {
  negate: boolean;
  re: RegExp;
  pattern: string;
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      if (glob[i + 2] === "/") {
        re += "(?:.*/)?";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    const pattern = (negate ? line.slice(1) : line).trim().replace(/^\/+/, "").replace(/\/+$/, "");
    rules.push({ negate, re: globToRegExp(pattern), pattern });
  }
  return rules;
}

export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const segments = path.split("/");
  const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const r of rules) {
    if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
  }
  return ignored;
}

/** Files a fresh clone has (tracked, plus untracked files that are not git-ignored) minus .dockerignore. */
export function buildContext(): string[] {
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: REPO_ROOT, encoding: "utf8" })
    .split("\0")
    .filter(Boolean);
  const rules = parseDockerignore(readFileSync(DOCKERIGNORE, "utf8"));
  return files.filter((f) => !isIgnored(rules, f));
}

/** Context files a COPY source selects (a file, or everything under a folder). */
export function selectFromContext(context: string[], source: string): string[] {
  const src = source.replace(/^\.\//, "").replace(/\/+$/, "");
  if (src === "." || src === "") return context;
  if (/[*?[]/.test(src)) {
    const re = globToRegExp(src);
    return context.filter((f) => re.test(f));
  }
  return context.filter((f) => f === src || f.startsWith(`${src}/`));
}
