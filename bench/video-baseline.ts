// The chance-level baseline (most frequent train answer per question type) on each split, as a
// markdown table for docs/benchmarks.md. Run: pnpm exec tsx bench/video-baseline.ts [--seed S --train N --test N]
import { parseArgs } from "node:util";
import { SPLITS, buildSplits, chanceBaseline } from "@isrdpo/video";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "1" },
    train: { type: "string", default: "5000" },
    test: { type: "string", default: "1000" },
  },
});
const splits = buildSplits({
  seed: Number(values.seed),
  train: Number(values.train),
  testIn: Number(values.test),
  testOut: Number(values.test),
});
const train = splits.train.flatMap((c) => c.items);
const rows = SPLITS.map((s) => ({
  split: s,
  base: chanceBaseline(
    train,
    splits[s].flatMap((c) => c.items),
  ),
}));
const types = rows[0]!.base.map((b) => b.questionType);
console.log(`| question type | constant answer | ${SPLITS.join(" | ")} |`);
console.log(`|---|---|${SPLITS.map(() => "---").join("|")}|`);
for (const t of types) {
  const cells = rows.map((r) => {
    const b = r.base.find((x) => x.questionType === t);
    return b ? `${(100 * b.accuracy).toFixed(1)}% (${b.items})` : "–";
  });
  console.log(`| ${t} | ${rows[0]!.base.find((b) => b.questionType === t)!.answer} | ${cells.join(" | ")} |`);
}
const objects = (s: (typeof SPLITS)[number]) => splits[s].reduce((a, c) => a + c.scene.objects.length, 0) / splits[s].length;
console.log(`\nmean objects per clip: ${SPLITS.map((s) => `${s} ${objects(s).toFixed(2)}`).join(", ")}`);
const withOrder = (s: (typeof SPLITS)[number]) =>
  splits[s].filter((c) => c.items.some((i) => i.questionType === "order")).length / splits[s].length;
console.log(`clips with an order question: ${SPLITS.map((s) => `${s} ${(100 * withOrder(s)).toFixed(0)}%`).join(", ")}`);
// Order questions name two events; the constant-answer baseline is meaningless there. Naming the
// first option of the question is the 2-way chance level (the options come in random order).
const firstOption = SPLITS.map((s) => {
  const order = splits[s].flatMap((c) => c.items).filter((i) => i.questionType === "order");
  const hits = order.filter((i) => i.question.split(": the ")[1]!.startsWith(`${i.answer} `)).length;
  return `${s} ${((100 * hits) / order.length).toFixed(1)}%`;
});
console.log(`order, always naming the first option: ${firstOption.join(", ")}`);
