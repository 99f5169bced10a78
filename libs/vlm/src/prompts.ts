// The prompt templates of every skill the loop asks of the model. They are part of the model: SFT
// teaches exactly these, the services use exactly these, and a run records them (PROMPT_TEMPLATES).
// Short on purpose: prompt tokens cost compute on every forward pass of a CPU-sized model.

export const PROMPT_TEMPLATES_VERSION = "isrdpo-prompts-v2";

/** Template text with {placeholders}; recorded verbatim with every run and evaluation. */
export const PROMPT_TEMPLATES = {
  answer: "question: {question}\nanswer:",
  answerWithContext: "context: {context}\nquestion: {question}\nanswer:",
  describe: "describe the video.\ndescription:",
  refine: "previous description: {previous}\nimprove the description.\ndescription:",
  judge: "question: {question}\nanswer a: {a}\nanswer b: {b}\nwhich answer is better?\nverdict:",
  judgeWithContext: "context: {context}\nquestion: {question}\nanswer a: {a}\nanswer b: {b}\nwhich answer is better?\nverdict:",
  verify: "question: {question}\nanswer: {answer}\nis the answer right?\nverdict:",
  verifyWithContext: "context: {context}\nquestion: {question}\nanswer: {answer}\nis the answer right?\nverdict:",
  critique: "question: {question}\nanswer: {answer}\ncritique:",
  revise: "question: {question}\nanswer: {answer}\ncritique: {critique}\nrevised answer:",
} as const;

export type PromptKind = keyof typeof PROMPT_TEMPLATES;

/** The two verdict answers of the judge prompt; the judge compares their log-probabilities. */
export const VERDICTS = { a: " a", b: " b" } as const;

/** The two verdicts of the verification prompt; P(yes) is the self-verification score of an answer. */
export const VERIFY_VERDICTS = { yes: " yes", no: " no" } as const;

function render(kind: PromptKind, fields: Record<string, string>): string {
  return PROMPT_TEMPLATES[kind].replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = fields[name];
    if (value === undefined) throw new Error(`prompt ${kind}: missing field ${name}`);
    // Newlines separate template fields; keep values on one line so fields stay unambiguous.
    return value.replace(/\s+/g, " ").trim();
  });
}

/** A context field, or none: empty contexts use the template without it. */
const withContext = (context: string) => context.trim() !== "";

export const prompts = {
  /** With a context: the answer prompt that the context-conditioned likelihood judge scores. */
  answer: (question: string, context = "") =>
    withContext(context) ? render("answerWithContext", { context, question }) : render("answer", { question }),
  describe: () => render("describe", {}),
  refine: (previous: string) => render("refine", { previous }),
  /** With an empty context this is the plain self-rewarding judge prompt. */
  judge: (question: string, a: string, b: string, context = "") =>
    withContext(context) ? render("judgeWithContext", { context, question, a, b }) : render("judge", { question, a, b }),
  /** Pointwise self-verification (Self-Rewarding LMs score pointwise): is this answer right? */
  verify: (question: string, answer: string, context = "") =>
    withContext(context) ? render("verifyWithContext", { context, question, answer }) : render("verify", { question, answer }),
  critique: (question: string, answer: string) => render("critique", { question, answer }),
  revise: (question: string, answer: string, critique: string) => render("revise", { question, answer, critique }),
};

/** Targets start with a space after the prompt's final colon, as the model is trained to answer. */
export function asTarget(text: string): string {
  return ` ${text.replace(/\s+/g, " ").trim()}`;
}

/** A skill example as the synthetic world's SFT builders describe it (structurally, libs/video SftRecord). */
export type SkillRecord =
  | { task: "answer"; question: string; context?: string; target: string }
  | { task: "describe"; target: string }
  | { task: "refine"; previous: string; target: string }
  | { task: "judge"; question: string; context?: string; answerA: string; answerB: string; target: "A" | "B" }
  | { task: "verify"; question: string; context?: string; answer: string; target: "yes" | "no" }
  | { task: "critique"; question: string; answer: string; target: string }
  | { task: "revise"; question: string; answer: string; critique: string; target: string };

/** The prompt and the answer the model learns for one skill example: the same text the loop will ask. */
export function skillText(r: SkillRecord): { prompt: string; answer: string } {
  switch (r.task) {
    case "answer":
      return { prompt: prompts.answer(r.question, r.context ?? ""), answer: asTarget(r.target) };
    case "describe":
      return { prompt: prompts.describe(), answer: asTarget(r.target) };
    case "refine":
      return { prompt: prompts.refine(r.previous), answer: asTarget(r.target) };
    case "judge":
      return {
        prompt: prompts.judge(r.question, r.answerA, r.answerB, r.context ?? ""),
        answer: r.target === "A" ? VERDICTS.a : VERDICTS.b,
      };
    case "verify":
      return {
        prompt: prompts.verify(r.question, r.answer, r.context ?? ""),
        answer: r.target === "yes" ? VERIFY_VERDICTS.yes : VERIFY_VERDICTS.no,
      };
    case "critique":
      return { prompt: prompts.critique(r.question, r.answer), answer: asTarget(r.target) };
    case "revise":
      return { prompt: prompts.revise(r.question, r.answer, r.critique), answer: asTarget(r.target) };
  }
}
