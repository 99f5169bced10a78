// Spawns the worker and orchestrator scripts as real processes, one node each (no wrapper process,
// so SIGKILL hits the process that does the work).
import type { ChildProcess } from "node:child_process";
import { spawnTs } from "../support/processes.ts";

export class Proc {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  private readonly waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    script: string,
    env: Record<string, string>,
  ) {
    this.child = spawnTs(`test/orchestration/${script}`, [], env);
    let buf = "";
    this.child.stdout!.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          const m = line.match(w.re);
          if (m) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    });
    this.child.stderr!.on("data", (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.exited = new Promise((r) => this.child.once("exit", (code) => r(code)));
  }

  /** The first line (past or future) matching `re`. */
  waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no line matching ${re} in ${timeoutMs} ms; stderr:\n${this.stderr.join("")}`)),
        timeoutMs,
      );
      this.waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/** "start <msgId> <deliveries>" lines of worker processes. */
export function starts(procs: Proc[]): { msgId: string; deliveries: number; worker: string }[] {
  return procs.flatMap((p) =>
    p.lines.flatMap((l) => {
      const m = l.match(/^start (\S+) (\d+)$/);
      return m ? [{ msgId: m[1]!, deliveries: Number(m[2]), worker: p.name }] : [];
    }),
  );
}
