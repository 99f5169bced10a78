/**
 * Scale-out of the model stages in distributed mode: the responses stage (inference replicas) and the
 * judge stage (judge replicas) of one iteration, each with 1 and then 2 replicas of the service as
 * separate `isrdpo serve` processes on a private nats-server (its Object Store is the artifact store).
 * Work items are enqueued as the orchestrator would send them (same WorkItem, same queue) and the
 * stage ends when every shard has answered on the orchestrator queue. Each replica loads the model
 * through one RPC before the clock starts, so the figures are steady-state items/s, not start-up.
 *
 * Run: pnpm exec tsx bench/scale-judge.ts [--clips 16] [--shard-size 6] [--max-new-tokens 24] [--preset small]
 * Prints a line per measurement (with /proc/loadavg: other processes on the cores spoil the ratio;
 * the replicas' CPU seconds show whether a second replica adds work or only waits for a core), then
 * one JSON object.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ContextShardSchema,
  InferenceService,
  JudgeService,
  JudgeStrategy,
  OrchestratorEventSchema,
  DatasetRefSchema,
  Stage,
  WorkItemSchema,
  type ArtifactRef,
  type PromptItem,
  type WorkItem,
} from "@isrdpo/contracts";
import { connectNats, type ArtifactStore, type Bus } from "@isrdpo/bus";
import { startNatsServer } from "@isrdpo/bus/testing";
import { referenceCaption, syntheticSplit } from "@isrdpo/video";
import { Tokenizer, VideoLMM, initBackend, modelConfig, publishCheckpoint, saveCheckpoint, type Preset } from "@isrdpo/vlm";
import { promptItems } from "../services/orchestrator/src/prepare.ts";
import { startServer, type ServerProcess } from "../test/support/processes.ts";

const { values } = parseArgs({
  options: {
    clips: { type: "string", default: "16" },
    "shard-size": { type: "string", default: "6" },
    "max-new-tokens": { type: "string", default: "24" },
    preset: { type: "string", default: "small" },
  },
});
const clips = Number(values.clips);
const shardSize = Number(values["shard-size"]);
const maxNewTokens = Number(values["max-new-tokens"]);
const STAGE_DEADLINE_MS = 20 * 60_000;
const tempDirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
};
/** CPU seconds (user + system) a process has used, from /proc: the replicas' work, whatever the load. */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
};
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** A fresh model of the preset (random weights: the same compute as a trained one) in the store. */
async function publishModel(artifacts: ArtifactStore, items: PromptItem[], captions: string[]): Promise<string> {
  await initBackend("wasm", () => undefined);
  const c0 = modelConfig(values.preset as Preset);
  const tok = Tokenizer.train([...items.map((i) => i.instruction), ...captions], { vocabSize: c0.vocabSize });
  const model = VideoLMM.create(modelConfig(values.preset as Preset, { vocabSize: tok.vocabSize }), 1);
  const dir = tempDir("isrdpo-scale-model-");
  await saveCheckpoint(dir, model, tok);
  model.dispose();
  return (await publishCheckpoint(artifacts, dir, "scale-bench")).digest;
}

async function startReplicas(service: "inference" | "judge", n: number, natsUrl: string): Promise<ServerProcess[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, () =>
      startServer(
        "apps/cli/src/main.ts",
        ["serve", service, "--port", "0", "--nats", natsUrl],
        // One thread per replica: the bench measures scaling by processes (a replica with more threads
        // would also load its model on the threads, not where the warm-up RPC loads it).
        { ISRDPO_CHECKPOINT_DIR: tempDir(`isrdpo-scale-${service}-`), ISRDPO_THREADS: "1" },
        120_000,
      ),
    ),
  );
  const procs = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stopReplicas(procs);
    throw failed.reason;
  }
  return procs;
}

async function stopReplicas(procs: ServerProcess[]): Promise<void> {
  for (const p of procs) p.child.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
}

/** Enqueues the shards and waits for every answer; the stage's wall time in ms. */
async function runStage(bus: Bus, queue: "responses" | "judge", items: WorkItem[]): Promise<{ ms: number; outputs: ArtifactRef[] }> {
  const t0 = performance.now();
  for (const w of items) await bus.enqueue(queue, toBinary(WorkItemSchema, w), `${w.runId}.${queue}.${w.shardIndex}`);
  const outputs: ArtifactRef[] = [];
  let failed = "";
  for (let done = 0; done < items.length; ) {
    if (performance.now() - t0 > STAGE_DEADLINE_MS)
      throw new Error(`${queue}: ${done} of ${items.length} shards answered in ${STAGE_DEADLINE_MS / 60_000} min`);
    const d = await bus.pull("orchestrator", { expiresMs: 5000 });
    if (!d) continue;
    const e = fromBinary(OrchestratorEventSchema, d.data);
    await d.ack();
    if (e.runId !== items[0]!.runId) continue;
    if (e.kind.case === "shardCompleted") outputs[e.kind.value.shardIndex] = e.kind.value.output!;
    else if (e.kind.case === "shardFailed") failed ||= e.kind.value.reason;
    done++;
  }
  if (failed) throw new Error(`${queue}: a shard failed: ${failed}`);
  return { ms: performance.now() - t0, outputs };
}

async function main() {
  const nats = await startNatsServer();
  const { bus, artifacts } = await connectNats({ servers: nats.url });
  try {
    // The prompt items the orchestrator's prepare stage makes of this synthetic split.
    const prompts = create(DatasetRefSchema, {
      source: { case: "synthetic", value: { seed: 11n, split: "train", clipCount: clips, frames: 8 } },
    });
    const items: PromptItem[] = [];
    for await (const it of promptItems(artifacts, prompts)) items.push(it);
    const split = syntheticSplit(11, "train", clips, 8);
    const captions = new Map(split.map((c) => [c.id, referenceCaption(c.scene)]));
    const digest = await publishModel(artifacts, items, [...captions.values()]);
    const model = { name: "scale-bench", digest };
    const shards = Array.from({ length: Math.ceil(items.length / shardSize) }, (_, i) => items.slice(i * shardSize, (i + 1) * shardSize));
    // The judge reads a context per item: the clip's reference caption, as long as a real c_t.
    const contexts = await Promise.all(
      shards.map((s, i) =>
        artifacts.put(
          `artifact://bench/scale/contexts/shard-${i}.pb`,
          toBinary(
            ContextShardSchema,
            create(ContextShardSchema, {
              records: s.map((it) => ({ itemId: it.id, videoId: it.video!.id, context: captions.get(it.video!.id) ?? "" })),
            }),
          ),
        ),
      ),
    );
    const sampling = { temperature: 0.7, maxNewTokens, seed: 1n };
    const video = items[0]!.video!;
    const results: Record<string, Record<string, number | string>> = {};
    let responses: ArtifactRef[] = [];

    for (const stage of ["responses", "judge"] as const) {
      const service = stage === "responses" ? "inference" : "judge";
      for (const replicas of [1, 2]) {
        const procs = await startReplicas(service, replicas, nats.url);
        try {
          // Load the model in every replica before the clock starts.
          await Promise.all(
            procs.map(async (p) => {
              const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${p.port}` });
              if (service === "inference")
                await createClient(InferenceService, transport).generate({
                  model,
                  inputs: [{ video, prompt: "describe the video." }],
                  sampling: { maxNewTokens: 2 },
                });
              else
                await createClient(JudgeService, transport).judge({
                  model,
                  strategy: JudgeStrategy.SELF,
                  video,
                  instruction: "what moves?",
                  responseA: "a circle",
                  responseB: "a square",
                });
            }),
          );
          const runId = `scale-${stage}-${replicas}`;
          const work = shards.map((s, i) =>
            create(WorkItemSchema, {
              runId,
              iteration: 1,
              stage: stage === "responses" ? Stage.RESPONSES : Stage.JUDGE,
              shardIndex: i,
              model,
              items: s,
              params:
                stage === "responses"
                  ? { case: "responses", value: { sampling, responsesPerItem: 2 } }
                  : {
                      case: "judge",
                      value: { strategy: JudgeStrategy.SELF, tieMargin: 0.05, responses: responses[i], contexts: contexts[i] },
                    },
            }),
          );
          const before = loadavg();
          const cpu0 = procs.reduce((a, p) => a + cpuSeconds(p.child.pid!), 0);
          const { ms, outputs } = await runStage(bus, stage, work);
          const cpuS = +(procs.reduce((a, p) => a + cpuSeconds(p.child.pid!), 0) - cpu0).toFixed(1);
          if (stage === "responses" && replicas === 1) responses = outputs;
          const itemsPerS = items.length / (ms / 1000);
          results[`${stage}${replicas}`] = {
            ms: Math.round(ms),
            itemsPerS: +itemsPerS.toFixed(2),
            replicaCpuS: cpuS,
            loadavgBefore: before,
            loadavgAfter: loadavg(),
          };
          console.log(
            `${stage.padEnd(9)} ${replicas} replica(s): ${items.length} items in ${(ms / 1000).toFixed(1)} s = ${itemsPerS.toFixed(2)} items/s, ${cpuS} CPU-s in the replicas (loadavg ${before} → ${loadavg()})`,
          );
        } finally {
          await stopReplicas(procs);
        }
      }
    }
    const ratio = (s: string) => +((results[`${s}2`]!.itemsPerS as number) / (results[`${s}1`]!.itemsPerS as number)).toFixed(2);
    console.log(
      JSON.stringify({
        preset: values.preset,
        items: items.length,
        shards: shards.length,
        maxNewTokens,
        responses: { one: results.responses1, two: results.responses2, ratio: ratio("responses") },
        judge: { one: results.judge1, two: results.judge2, ratio: ratio("judge") },
      }),
    );
  } finally {
    await bus.close();
    await nats.stop();
    await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

main().catch(async (err) => {
  console.error(`scale-judge: ${(err as Error).message}`);
  process.exitCode = 1;
});
