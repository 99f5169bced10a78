// Preference exports: LLaVA-Hound-DPO's JSONL (id, video, prompt, chosen, rejected, chosen_score,
// rejected_score; we add context) and TRL's DPO format (prompt, chosen, rejected, then the rest).
import { z } from "zod";
import { parseJsonlLine, readLines, writeJsonl } from "./jsonl.ts";

export const PreferenceRecordSchema = z.object({
  id: z.string().min(1),
  video: z.string().min(1),
  prompt: z.string(),
  chosen: z.string(),
  rejected: z.string(),
  chosen_score: z.number(),
  rejected_score: z.number(),
  /** The context description the judge saw ("" when none). */
  context: z.string(),
});
export type PreferenceRecord = z.infer<typeof PreferenceRecordSchema>;

export const TrlRecordSchema = z.object({ prompt: z.string(), chosen: z.string(), rejected: z.string() });
export type TrlRecord = z.infer<typeof TrlRecordSchema>;

/** Streams records to `path`; returns how many were written. */
export function writePreferenceJsonl(path: string, records: Iterable<PreferenceRecord> | AsyncIterable<PreferenceRecord>): Promise<number> {
  return writeJsonl(path, records, PreferenceRecordSchema);
}

export async function* readPreferenceJsonl(path: string): AsyncGenerator<PreferenceRecord> {
  for await (const { line, text } of readLines(path)) yield parseJsonlLine(PreferenceRecordSchema, text, path, line);
}

async function* toTrl(records: Iterable<PreferenceRecord> | AsyncIterable<PreferenceRecord>): AsyncGenerator<TrlRecord> {
  // TRL reads the three columns it needs and ignores the rest, which stay for analysis.
  for await (const { prompt, chosen, rejected, ...rest } of records) yield { prompt, chosen, rejected, ...rest };
}

/** TRL DPOTrainer's `prompt` / `chosen` / `rejected` JSONL, the record's other fields as extra columns. */
export function writeTrlJsonl(path: string, records: Iterable<PreferenceRecord> | AsyncIterable<PreferenceRecord>): Promise<number> {
  return writeJsonl(path, toTrl(records), TrlRecordSchema);
}
