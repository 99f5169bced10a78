// How imported QA splits print: accuracy and score as their scorer defines them, the match accuracy
// beside them, and what the answer judge could not read.
import type { SplitMetrics } from "@isrdpo/contracts";

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function qaSplitTable(splits: SplitMetrics[]): string {
  const lines: string[] = [
    "| split | question type | items | accuracy | score (0–5) | match accuracy | chance | words |",
    `|${"---|".repeat(8)}`,
  ];
  for (const s of splits) {
    const score = (x: number) => (s.scorer === "match" ? "–" : x.toFixed(2));
    lines.push(
      `| ${s.split} | all | ${s.items} | ${pct(s.accuracy)} | ${score(s.meanScore)} | ${pct(s.matchAccuracy)} | – | ${s.meanAnswerWords.toFixed(1)} |`,
    );
    for (const t of s.byQuestionType)
      lines.push(
        `| ${s.split} | ${t.questionType} | ${t.items} | ${pct(t.accuracy)} | ${score(t.meanScore)} | ${pct(t.matchAccuracy)} | ${pct(t.chanceAccuracy)} | |`,
      );
  }
  for (const s of splits) {
    const notes = [`scored by ${s.scorer}`];
    if (s.scorer !== "match")
      notes.push(`${s.unparsableJudgements} unparsable judgement(s)`, `${s.unjudgedItems} item(s) none of whose judgements parsed`);
    if (s.failures.length)
      notes.push(`${s.failures.length} item(s) not scored (first: ${s.failures[0]!.itemId}: ${s.failures[0]!.reason})`);
    lines.push(`${s.split}: ${notes.join("; ")}`);
  }
  return lines.join("\n");
}
