// The chance-level baseline: for each question type, always answer the most frequent reference answer
// of a fitting set (normally train). Later accuracies are read against it.
import type { InstructionItem } from "./instructions.ts";
import type { QuestionType } from "./vocab.ts";

export interface ChanceBaseline {
  questionType: QuestionType;
  /** The constant answer (most frequent in the fitting items; ties broken alphabetically). */
  answer: string;
  items: number;
  accuracy: number;
}

/** Most-frequent-answer accuracy per short-answer question type of `evalItems` (open questions excluded). */
export function chanceBaseline(fitItems: readonly InstructionItem[], evalItems: readonly InstructionItem[] = fitItems): ChanceBaseline[] {
  const counts = new Map<QuestionType, Map<string, number>>();
  for (const it of fitItems) {
    if (it.check.kind === "open") continue;
    const m = counts.get(it.questionType) ?? new Map<string, number>();
    m.set(it.answer, (m.get(it.answer) ?? 0) + 1);
    counts.set(it.questionType, m);
  }
  const out: ChanceBaseline[] = [];
  for (const [questionType, m] of counts) {
    const answer = [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    const evals = evalItems.filter((it) => it.questionType === questionType);
    if (evals.length === 0) continue;
    const hits = evals.filter((it) => it.answer === answer).length;
    out.push({ questionType, answer, items: evals.length, accuracy: hits / evals.length });
  }
  return out.sort((a, b) => (a.questionType < b.questionType ? -1 : 1));
}
