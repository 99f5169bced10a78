import { z } from "zod";

/** The model's shape. Frames are fixed by the config: callers resize before they call the model. */
export const ModelConfigSchema = z
  .object({
    vocabSize: z.number().int().min(259),
    frames: z.number().int().positive(),
    height: z.number().int().positive(),
    width: z.number().int().positive(),
    channels: z.literal(3),
    patchSize: z.number().int().positive(),
    /**
     * How pixels are scaled: "unit" maps 0–255 to [-1, 1]; "clip" standardises each colour channel
     * over the clip (zero mean, unit variance, as tf.image.per_image_standardization): a dark,
     * varied background goes to ≈ 0 and the bright objects stand out.
     */
    inputNorm: z.enum(["unit", "clip"]).default("unit"),
    /**
     * How a patch becomes a token: "linear" (ViT's patch embedding), or "hmlp", the hierarchical MLP
     * stem (Touvron et al. 2022, "Three things everyone should know about Vision Transformers"):
     * linear + GELU on cells of (patch/4)², then on 2×2 cells, then on the 2×2 quadrants — a small
     * convolutional-style stem, non-overlapping so patches stay independent.
     */
    stem: z.enum(["linear", "hmlp"]).default("linear"),
    /**
     * Positions in the language model: "learned" absolute embeddings (GPT-2), or "rope", rotary
     * embeddings of queries and keys (RoFormer; LLaMA), where attention sees relative distances.
     */
    positionEncoding: z.enum(["learned", "rope"]).default("learned"),
    /**
     * Outputs of the dense head on the visual tokens (0: no head): per token, a logit for each label
     * of what it covers (the synthetic world's colours and shapes: @isrdpo/video's DENSE_LABELS). SFT
     * trains it beside the answers when labels are given, as a stand-in for the pretrained vision
     * encoder real video LMMs start from; nothing else reads it.
     */
    denseLabels: z.number().int().nonnegative().default(0),
    /** Frames per visual token (ViViT "tubelet"): fewer visual tokens for the same clip. */
    tubelet: z.number().int().positive(),
    visionDim: z.number().int().positive(),
    visionLayers: z.number().int().nonnegative(),
    visionHeads: z.number().int().positive(),
    dModel: z.number().int().positive(),
    nLayers: z.number().int().positive(),
    nHeads: z.number().int().positive(),
    mlpRatio: z.number().int().positive(),
    /**
     * Text tokens per sequence (prompt + answer, with <bos> and <eos>): judge prompts carry a
     * context and two answers. Cost follows the actual lengths in a batch, not this bound.
     */
    maxTextLen: z.number().int().min(4),
    layerNormEps: z.number().positive(),
    initStd: z.number().positive(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const bad = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (c.height % c.patchSize !== 0 || c.width % c.patchSize !== 0) bad("patchSize", "must divide height and width");
    if (c.frames % c.tubelet !== 0) bad("tubelet", "must divide frames");
    if (c.stem === "hmlp" && c.patchSize % 4 !== 0) bad("patchSize", "must be a multiple of 4 for the hmlp stem");
    if (c.dModel % c.nHeads !== 0) bad("nHeads", "must divide dModel");
    if (c.positionEncoding === "rope" && (c.dModel / c.nHeads) % 2 !== 0) bad("nHeads", "must leave an even head size for rope");
    if (c.visionDim % c.visionHeads !== 0) bad("visionHeads", "must divide visionDim");
  });
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export const PRESET_NAMES = ["test", "small", "base", "large"] as const;
export type Preset = (typeof PRESET_NAMES)[number];

const common = {
  frames: 8,
  height: 32,
  width: 32,
  channels: 3 as const,
  inputNorm: "unit" as const,
  stem: "linear" as const,
  positionEncoding: "learned" as const,
  denseLabels: 0,
  mlpRatio: 4,
  layerNormEps: 1e-5,
  initStd: 0.02,
};

const PRESETS: Record<Preset, ModelConfig> = {
  // Tiny, for unit tests: 16 visual tokens, 0.1M parameters, a train step in ~50 ms.
  test: {
    ...common,
    vocabSize: 320,
    patchSize: 16,
    tubelet: 2,
    visionDim: 32,
    visionLayers: 1,
    visionHeads: 2,
    dModel: 32,
    nLayers: 2,
    nHeads: 2,
    maxTextLen: 192,
  },
  // The default demo model, sized for one CPU core (see docs/benchmarks.md): 32 visual tokens, 1.3M parameters.
  small: {
    ...common,
    vocabSize: 1024,
    patchSize: 16,
    tubelet: 1,
    visionDim: 128,
    visionLayers: 1,
    visionHeads: 4,
    dModel: 128,
    nLayers: 4,
    nHeads: 4,
    maxTextLen: 256,
  },
  // Meant for a GPU: 64 visual tokens, 37M parameters.
  base: {
    ...common,
    vocabSize: 8192,
    patchSize: 8,
    tubelet: 2,
    visionDim: 384,
    visionLayers: 4,
    visionHeads: 6,
    dModel: 512,
    nLayers: 8,
    nHeads: 8,
    maxTextLen: 512,
  },
  // Meant for a GPU with ~10 GB free: base's inputs (64 visual tokens), a 12-layer d768 language model
  // and a 6-layer vision tower: 111.9M parameters (parameterCount(); base is 37.4M).
  large: {
    ...common,
    vocabSize: 8192,
    patchSize: 8,
    tubelet: 2,
    visionDim: 512,
    visionLayers: 6,
    visionHeads: 8,
    dModel: 768,
    nLayers: 12,
    nHeads: 12,
    maxTextLen: 512,
  },
};

/** A validated config: the preset, with `overrides` applied on top. Errors name the field. */
export function modelConfig(preset: Preset = "small", overrides: Partial<ModelConfig> = {}): ModelConfig {
  const base = PRESETS[preset];
  if (!base) throw new Error(`model config: unknown preset "${String(preset)}" (${PRESET_NAMES.join(", ")})`);
  return parseModelConfig({ ...base, ...overrides });
}

export function parseModelConfig(json: unknown): ModelConfig {
  const parsed = ModelConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error(`model config: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Visual tokens per video. */
export function numVisualTokens(c: ModelConfig): number {
  return (c.frames / c.tubelet) * (c.height / c.patchSize) * (c.width / c.patchSize);
}

/** Values per patch (tubelet × patch × patch × channels), as patchify lays them out. */
export function patchDim(c: ModelConfig): number {
  return c.tubelet * c.patchSize * c.patchSize * c.channels;
}
