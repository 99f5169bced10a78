// SFT examples from imported datasets: what a ShareGPTVideo dataset teaches the skills the loop uses.
// Each QA pair is an answer example (the gpt turn is the target); each video with a caption is one
// description example. Structured records, as the synthetic world's SFT builders give them: the
// prompt text is the model's (libs/vlm skillText), so SFT and the loop ask alike.
import type { ArtifactRef } from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { resolveVideo, type FrameDims } from "@isrdpo/video";
import { readFrames } from "./frames.ts";
import { parseJsonlLine, readArtifactLines } from "./jsonl.ts";
import { ShareGptVideoRecordSchema, qaPairs } from "./sharegpt.ts";

export type DatasetSkillRecord = { task: "answer"; question: string; target: string } | { task: "describe"; target: string };

export interface DatasetSftExample {
  /** The video's URI (a frames artifact for imported data): the model's visual-token cache key. */
  videoId: string;
  frames: Uint8Array;
  record: DatasetSkillRecord;
}

/**
 * The SFT examples of imported datasets, in file order, each video's frames read once. A malformed
 * line or an unreadable video throws, naming it: an imported dataset was validated when imported. A
 * record naming a file (not a frames artifact) is read only under `mediaRoots` (the server's media.roots).
 */
export async function datasetSftExamples(
  store: ArtifactStore,
  datasets: readonly ArtifactRef[],
  dims: FrameDims,
  mediaRoots: readonly string[] = [],
): Promise<DatasetSftExample[]> {
  const frames = new Map<string, Uint8Array>();
  const described = new Set<string>();
  const examples: DatasetSftExample[] = [];
  for (const ref of datasets) {
    for await (const { line, text } of readArtifactLines(store, ref)) {
      const record = parseJsonlLine(ShareGptVideoRecordSchema, text, ref.uri, line);
      const data =
        frames.get(record.video) ??
        (await resolveVideo({ case: "uri", value: record.video }, dims, `${ref.uri}:${line}: video`, {
          artifactFrames: (uri, d, field) => readFrames(store, uri, d, field),
          mediaRoots,
        }));
      frames.set(record.video, data);
      const add = (r: DatasetSkillRecord) => examples.push({ videoId: record.video, frames: data, record: r });
      for (const qa of qaPairs(record)) add({ task: "answer", question: qa.question, target: qa.answer });
      if (record.caption?.trim() && !described.has(record.video)) {
        described.add(record.video);
        add({ task: "describe", target: record.caption });
      }
    }
  }
  return examples;
}
