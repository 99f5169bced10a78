// ShareGPTVideo / LLaVA-Hound QA JSONL: {"id", "video", "conversations": [{"from": "human"|"gpt", "value"}], "caption"?}.
// Extra fields are kept (we add "question_type" and "clip_id" on export; other readers ignore them).
import { z } from "zod";
import { AnswerCheckSchema, type AnswerCheck } from "@isrdpo/video";
import type { ArtifactRef } from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { parseJsonlLine, readArtifactLines, readLines } from "./jsonl.ts";

export const ConversationTurnSchema = z.object({
  from: z.enum(["human", "gpt"]),
  value: z.string(),
});

export const ShareGptVideoRecordSchema = z.looseObject({
  id: z.string().min(1),
  video: z.string().min(1),
  conversations: z.array(ConversationTurnSchema).min(2),
  caption: z.string().optional(),
  question_type: z.string().optional(),
  clip_id: z.string().optional(),
  /** Synthetic items: what a correct answer must say (the oracle's AnswerCheck). */
  check: AnswerCheckSchema.optional(),
});
export type ShareGptVideoRecord = z.infer<typeof ShareGptVideoRecordSchema>;

export interface ShareGptVideoLine {
  line: number;
  record: ShareGptVideoRecord;
}

/**
 * Streams a ShareGPTVideo JSONL file. A malformed line throws a DatasetLineError with the file, the
 * line number and the field.
 */
export async function* readShareGptVideoJsonl(path: string): AsyncGenerator<ShareGptVideoLine> {
  for await (const { line, text } of readLines(path)) {
    yield { line, record: parseJsonlLine(ShareGptVideoRecordSchema, text, path, line) };
  }
}

/** The "<video>" placeholder that LLaVA-style data puts in front of the first question. */
const VIDEO_TOKEN = /^\s*<video>\s*/;

/** Question–answer pairs of a record: each human turn with the gpt turn after it. */
export function qaPairs(record: ShareGptVideoRecord): { question: string; answer: string }[] {
  const pairs: { question: string; answer: string }[] = [];
  const turns = record.conversations;
  for (let i = 0; i + 1 < turns.length; i++) {
    if (turns[i]!.from === "human" && turns[i + 1]!.from === "gpt") {
      pairs.push({ question: turns[i]!.value.replace(VIDEO_TOKEN, "").trim(), answer: turns[i + 1]!.value.trim() });
      i++;
    }
  }
  return pairs;
}

export interface DatasetQa {
  /** "<record id>#<k>" for the k-th pair of the record. */
  id: string;
  /** As the record has it: a frames artifact URI for an imported dataset. */
  video: string;
  question: string;
  answer: string;
  questionType?: string;
  /** The record's detailed caption of the video, when it has one. */
  caption?: string;
}

/** Every QA pair of a ShareGPTVideo JSONL artifact, streamed; a malformed line throws naming it. */
export async function* datasetQaPairs(store: ArtifactStore, ref: ArtifactRef): AsyncGenerator<DatasetQa> {
  for await (const { line, text } of readArtifactLines(store, ref)) {
    const record = parseJsonlLine(ShareGptVideoRecordSchema, text, ref.uri, line);
    for (const [k, qa] of qaPairs(record).entries())
      yield {
        id: `${record.id}#${k}`,
        video: record.video,
        ...qa,
        ...(record.question_type ? { questionType: record.question_type } : {}),
        ...(record.caption?.trim() ? { caption: record.caption } : {}),
      };
  }
}

/** One QA pair as a ShareGPTVideo record (question prefixed with "<video>\n", as LLaVA-Hound does). */
export function toShareGptVideo(r: {
  id: string;
  video: string;
  question: string;
  answer: string;
  caption?: string;
  questionType?: string;
  clipId?: string;
  check?: AnswerCheck;
}): ShareGptVideoRecord {
  return {
    id: r.id,
    video: r.video,
    conversations: [
      { from: "human", value: `<video>\n${r.question}` },
      { from: "gpt", value: r.answer },
    ],
    ...(r.caption !== undefined ? { caption: r.caption } : {}),
    ...(r.questionType !== undefined ? { question_type: r.questionType } : {}),
    ...(r.clipId !== undefined ? { clip_id: r.clipId } : {}),
    ...(r.check !== undefined ? { check: r.check } : {}),
  };
}
