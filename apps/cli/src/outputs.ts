// What a finished (or running) run leaves in a directory: the iteration table, the HTML report, each
// training job's metrics history as JSONL and every history as TensorBoard event files.
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, relative } from "node:path";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Stage, StageState, type Run } from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { jobId } from "@isrdpo/orchestration";
import { evaluationRecords, iterationRows, jobLabel, runReportHtml, type JobCurve } from "@isrdpo/report";
import { eventFile, eventFileName, jobHistoryUri, parseJsonl, toJsonl, type HistoryRecord } from "@isrdpo/tracking";
import { iterationTable } from "./report.ts";

export interface JobHistory extends JobCurve {
  jobId: string;
  steps: HistoryRecord[];
}

/** The metrics history of every training job of the run that has one in the store. */
export async function jobHistories(run: Run, artifacts: ArtifactStore): Promise<JobHistory[]> {
  const out: JobHistory[] = [];
  for (const it of run.iterations) {
    for (const s of it.stages) {
      if ((s.stage !== Stage.SFT && s.stage !== Stage.TRAIN) || s.state === StageState.PENDING) continue;
      const id = jobId(run.id, it.iteration, s.stage);
      const uri = jobHistoryUri(id);
      if (!(await artifacts.stat(uri))) continue;
      const steps = parseJsonl(new TextDecoder().decode(await artifacts.get(uri)), uri);
      out.push({ jobId: id, label: jobLabel(it.iteration, s.stage), steps });
    }
  }
  return out;
}

const startSec = (run: Run) => (run.createTime ? timestampDate(run.createTime).getTime() / 1000 : Date.now() / 1000);

/**
 * Writes report.md, report.html, metrics/<job>.jsonl + metrics/evaluations.jsonl, and
 * tensorboard/<job>/events.out.tfevents.* (`tensorboard --logdir DIR/tensorboard`). Returns report.html's path.
 */
export async function writeRunOutputs(out: string, run: Run, artifacts: ArtifactStore | undefined, links: string[] = []): Promise<string> {
  const jobs = artifacts ? await jobHistories(run, artifacts) : [];
  const histories: Array<{ name: string; records: HistoryRecord[] }> = [
    ...jobs.map((j) => ({ name: j.jobId, records: j.steps })),
    { name: "evaluations", records: evaluationRecords(run) },
  ];
  await mkdir(join(out, "metrics"), { recursive: true });
  for (const h of histories) {
    await writeFile(join(out, "metrics", `${h.name}.jsonl`), toJsonl(h.records));
    const dir = join(out, "tensorboard", h.name);
    await mkdir(dir, { recursive: true });
    const start = h.records[0]?.wall_time ?? startSec(run);
    await writeFile(join(dir, eventFileName(start, hostname())), eventFile(h.records, start));
  }
  await writeFile(join(out, "report.md"), `${iterationTable(iterationRows(run))}\n`);
  const html = join(out, "report.html");
  const rel = (p: string) => relative(out, p) || p;
  await writeFile(
    html,
    await runReportHtml({
      run,
      jobs,
      links: [
        ...links.map((p) => ({ label: rel(p), href: rel(p) })),
        ...histories.map((h) => ({ label: `metrics/${h.name}.jsonl`, href: `metrics/${h.name}.jsonl` })),
        { label: "tensorboard/ (tensorboard --logdir)", href: "tensorboard/" },
      ],
    }),
  );
  return html;
}
