/**
 * The built-in video LMM, LLaVA-style, read top to bottom:
 *
 *   frames ─► patches (tubelet × patch × patch × RGB) ─► patch embedding (linear or hMLP stem) + spatial + temporal
 *   positions ─► vision blocks (bidirectional) ─► LayerNorm ─► 2-layer MLP projector ─► visual tokens
 *   [visual tokens | text tokens] + positions ─► pre-LayerNorm causal transformer ─► LayerNorm ─►
 *   logits (LM head tied to the token embedding)
 *
 * One code path for every tfjs backend. Embeddings are one-hot matmuls because the wasm backend has
 * no gradient kernel for `gather` (UnsortedSegmentSum).
 */
import * as tf from "@tensorflow/tfjs";
import { type ModelConfig, numVisualTokens, parseModelConfig, patchDim } from "./config.ts";
import { Rng } from "./rng.ts";
import { InputError } from "./errors.ts";

/** Per-layer attention keys and values of the tokens seen so far: [batch, heads, time, headDim]. */
export interface KvCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
}

/** A video as the model takes it: uint8 RGB, frame-major then row-major (frames×height×width×3). */
export interface VideoInput {
  videoId: string;
  frames: Uint8Array;
}

const NEG_INF = -1e9;

export class VideoLMM {
  readonly config: ModelConfig;
  readonly numVisual: number;
  readonly maxPositions: number;
  /** Parameters by safetensors name, in a fixed order. */
  readonly params = new Map<string, tf.Variable>();
  private visualCache = new Map<string, tf.Tensor2D>();
  /** The vision weights' version: bumped by markWeightsChanged(), it keys the visual-token cache. */
  private visionVersion = 0;
  private visualCacheVersion = 0;
  private readonly visualCacheSize: number;

  private constructor(config: ModelConfig, opts: { visualCacheSize?: number } = {}) {
    this.config = parseModelConfig(config);
    this.numVisual = numVisualTokens(this.config);
    this.maxPositions = this.numVisual + this.config.maxTextLen;
    // Default: as many videos as fit in 256 MB of visual tokens.
    this.visualCacheSize = opts.visualCacheSize ?? Math.max(64, Math.floor(2 ** 28 / (this.numVisual * this.config.dModel * 4)));
  }

  // ─── Parameters ────────────────────────────────────────────────────────────────────────────────

  /** A new model with weights drawn from `seed` (GPT-2 initialisation). */
  static create(config: ModelConfig, seed: number, opts: { visualCacheSize?: number } = {}): VideoLMM {
    const rng = new Rng(seed);
    return VideoLMM.build(config, opts, (_name, shape, init) =>
      init.kind === "normal"
        ? tf.truncatedNormal(shape, 0, init.std, "float32", rng.nextSeed())
        : init.kind === "ones"
          ? tf.ones(shape)
          : tf.zeros(shape),
    );
  }

  /** A model from named weights (a checkpoint); every parameter must be present with its shape. */
  static fromWeights(config: ModelConfig, weights: Map<string, tf.Tensor>, source = "weights"): VideoLMM {
    const m = VideoLMM.build(config, {}, (name, shape) => {
      const w = weights.get(name);
      if (!w) throw new Error(`${source}: missing tensor "${name}"`);
      if (w.shape.join(",") !== shape.join(","))
        throw new Error(`${source}: tensor "${name}" has shape [${w.shape}], the config needs [${shape}]`);
      return w.clone();
    });
    const extra = [...weights.keys()].filter((k) => !m.params.has(k));
    if (extra.length) {
      m.dispose();
      throw new Error(`${source}: unexpected tensors ${extra.slice(0, 5).join(", ")}`);
    }
    return m;
  }

  /** Every parameter, in order, with its shape and initialiser; `make` supplies the values. */
  private static build(
    config: ModelConfig,
    opts: { visualCacheSize?: number },
    make: (name: string, shape: number[], init: { kind: "normal"; std: number } | { kind: "zeros" | "ones" }) => tf.Tensor,
  ): VideoLMM {
    const m = new VideoLMM(config, opts);
    const c = m.config;
    const std = c.initStd;
    const add = (name: string, shape: number[], init: Parameters<typeof make>[2]) => {
      const value = make(name, shape, init);
      m.params.set(name, tf.variable(value, true));
      value.dispose();
    };
    const normal = (s: number) => ({ kind: "normal" as const, std: s });
    const linear = (name: string, nIn: number, nOut: number, s = std) => {
      add(`${name}.weight`, [nIn, nOut], normal(s));
      add(`${name}.bias`, [nOut], { kind: "zeros" });
    };
    const layerNorm = (name: string, dim: number) => {
      add(`${name}.weight`, [dim], { kind: "ones" });
      add(`${name}.bias`, [dim], { kind: "zeros" });
    };
    // Residual projections are scaled down with depth (GPT-2).
    const block = (prefix: string, dim: number, nLayers: number) => {
      layerNorm(`${prefix}.ln1`, dim);
      linear(`${prefix}.attn.qkv`, dim, 3 * dim);
      linear(`${prefix}.attn.proj`, dim, dim, std / Math.sqrt(2 * nLayers));
      layerNorm(`${prefix}.ln2`, dim);
      linear(`${prefix}.mlp.fc`, dim, c.mlpRatio * dim);
      linear(`${prefix}.mlp.proj`, c.mlpRatio * dim, dim, std / Math.sqrt(2 * nLayers));
    };
    try {
      // Vision tower and projector.
      if (c.stem === "hmlp") {
        const cell = c.tubelet * (c.patchSize / 4) ** 2 * c.channels;
        linear("vision.stem.0", cell, c.visionDim / 4, 1 / Math.sqrt(cell));
        linear("vision.stem.1", c.visionDim, c.visionDim / 4, 1 / Math.sqrt(c.visionDim));
        linear("vision.stem.2", c.visionDim, c.visionDim);
      } else {
        linear("vision.patch_embed", patchDim(c), c.visionDim);
      }
      add("vision.pos_spatial", [(c.height / c.patchSize) * (c.width / c.patchSize), c.visionDim], normal(std));
      add("vision.pos_temporal", [c.frames / c.tubelet, c.visionDim], normal(std));
      for (let i = 0; i < c.visionLayers; i++) block(`vision.blocks.${i}`, c.visionDim, Math.max(1, c.visionLayers));
      layerNorm("vision.ln_f", c.visionDim);
      linear("projector.fc1", c.visionDim, c.dModel);
      linear("projector.fc2", c.dModel, c.dModel);
      if (c.denseLabels > 0) linear("vision.dense_head", c.dModel, c.denseLabels);
      // Language model.
      add("text.wte", [c.vocabSize, c.dModel], normal(std));
      if (c.positionEncoding === "learned") add("text.wpe", [m.maxPositions, c.dModel], normal(std / 2));
      for (let i = 0; i < c.nLayers; i++) block(`blocks.${i}`, c.dModel, c.nLayers);
      layerNorm("ln_f", c.dModel);
    } catch (err) {
      m.dispose();
      throw err;
    }
    return m;
  }

  /** Vision tower + projector: trained in SFT, frozen in DPO. */
  isVisionParam(name: string): boolean {
    return name.startsWith("vision.") || name.startsWith("projector.");
  }

  /** The parameters a job trains, by name: all of them, or all but the vision tower and projector. */
  trainableParams(opts: { freezeVision: boolean }): [string, tf.Variable][] {
    return [...this.params].filter(([n]) => !(opts.freezeVision && this.isVisionParam(n)));
  }

  parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** A deep copy (e.g. a frozen reference model). */
  clone(): VideoLMM {
    const m = new VideoLMM(this.config, { visualCacheSize: this.visualCacheSize });
    for (const [n, v] of this.params) m.params.set(n, tf.variable(v, true));
    return m;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.clearVisualCache();
  }

  /** Call after changing weights in place, so caches keyed by the weights are not reused. */
  markWeightsChanged(): void {
    this.visionVersion++;
  }

  clearVisualCache(): void {
    for (const t of this.visualCache.values()) t.dispose();
    this.visualCache.clear();
  }

  private p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`model: no parameter "${name}"`);
    return v;
  }

  // ─── Layers ────────────────────────────────────────────────────────────────────────────────────

  private linear(x: tf.Tensor, name: string): tf.Tensor {
    const w = this.p(`${name}.weight`);
    const nIn = x.shape[x.rank - 1] as number;
    const y = linear2d(x.reshape([-1, nIn]) as tf.Tensor2D, w as tf.Tensor2D, this.p(`${name}.bias`) as tf.Tensor1D);
    return y.reshape([...x.shape.slice(0, -1), w.shape[1] as number]);
  }

  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    return layerNorm(x, this.p(`${name}.weight`) as tf.Tensor1D, this.p(`${name}.bias`) as tf.Tensor1D, this.config.layerNormEps);
  }

  /** GELU, sigmoid approximation (as in CLIP): x·σ(1.702x). */
  private gelu(x: tf.Tensor): tf.Tensor {
    return x.mul(tf.sigmoid(x.mul(1.702)));
  }

  /**
   * Multi-head self-attention. `bias` is added to the scores: [batch, 1, queries, keys] with `past`,
   * [queries, batch, 1, keys] without (groupedAttention's layout; 0 or -1e9). `past` holds the keys and
   * values of earlier tokens (KV cache), to which this call's are appended; `rope` rotates queries and
   * keys by their positions (keys are cached rotated). Without `past`, the keys and values are
   * returned in the cache layout only when `wantCache`.
   */
  private attention(
    x: tf.Tensor3D,
    prefix: string,
    nHeads: number,
    bias: tf.Tensor | null,
    past: { k: tf.Tensor4D; v: tf.Tensor4D } | null,
    rope: Rope | null,
    wantCache: boolean,
  ): { y: tf.Tensor3D; k?: tf.Tensor4D; v?: tf.Tensor4D } {
    const [b, t, d] = x.shape;
    const hd = d / nHeads;
    let [q, kNew, vNew] = tf.split(this.linear(x, `${prefix}.qkv`), 3, 2).map((z) => z.reshape([b, t, nHeads, hd])) as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
    ];
    if (rope) {
      // The tables' [batch, 1, rows, headDim/2] as [batch, rows, 1, headDim/2]: the same data, for [batch, rows, heads, headDim].
      const r = { cos: rope.cos.reshape([b, t, 1, hd / 2]) as tf.Tensor4D, sin: rope.sin.reshape([b, t, 1, hd / 2]) as tf.Tensor4D };
      [q, kNew] = [rotate(q, r), rotate(kNew, r)];
    }
    const heads = (z: tf.Tensor4D) => z.transpose([0, 2, 1, 3]) as tf.Tensor4D;
    if (!past) {
      const out = groupedAttention(q, kNew, vNew, bias);
      const y = this.linear(out, `${prefix}.proj`) as tf.Tensor3D;
      return wantCache ? { y, k: heads(kNew), v: heads(vNew) } : { y };
    }
    const k = tf.concat([past.k, heads(kNew)], 2);
    const v = tf.concat([past.v, heads(vNew)], 2);
    let scores = tf.matMul(heads(q), k, false, true).mul(1 / Math.sqrt(hd));
    if (bias) scores = scores.add(bias);
    const out = tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([b, t, d]);
    return { y: this.linear(out, `${prefix}.proj`) as tf.Tensor3D, k, v };
  }

  /** Pre-LayerNorm transformer block: x + attn(ln1(x)); x + mlp(ln2(x)). */
  private block(
    x: tf.Tensor3D,
    prefix: string,
    nHeads: number,
    bias: tf.Tensor | null,
    past: { k: tf.Tensor4D; v: tf.Tensor4D } | null,
    rope: Rope | null = null,
    wantCache = false,
  ): { x: tf.Tensor3D; k?: tf.Tensor4D; v?: tf.Tensor4D } {
    const a = this.attention(this.layerNorm(x, `${prefix}.ln1`) as tf.Tensor3D, `${prefix}.attn`, nHeads, bias, past, rope, wantCache);
    const h = x.add(a.y) as tf.Tensor3D;
    const m = this.linear(this.gelu(this.linear(this.layerNorm(h, `${prefix}.ln2`), `${prefix}.mlp.fc`)), `${prefix}.mlp.proj`);
    return { x: h.add(m) as tf.Tensor3D, k: a.k, v: a.v };
  }

  // ─── Vision ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Cuts a clip into flattened tubelet patches, pixels scaled by `inputNorm`: [numVisual, patchDim],
   * in (time, row, column) order. Throws, naming the video, if the frames do not have the config's shape.
   */
  patchify(frames: Uint8Array, videoId = "?"): Float32Array {
    const c = this.config;
    const expected = c.frames * c.height * c.width * c.channels;
    if (!(frames instanceof Uint8Array) || frames.length !== expected) {
      throw new InputError(
        `video "${videoId}": frames must be a Uint8Array of ${c.frames}×${c.height}×${c.width}×${c.channels} = ${expected} bytes, ` +
          `got ${frames instanceof Uint8Array ? frames.length : typeof frames} (resize before calling the model)`,
      );
    }
    const p = c.patchSize;
    const rows = c.height / p;
    const cols = c.width / p;
    const dim = patchDim(c);
    const out = new Float32Array(this.numVisual * dim);
    const [shift, scale] =
      c.inputNorm === "clip"
        ? clipStandardisation(frames)
        : [
            [127.5, 127.5, 127.5],
            [1 / 127.5, 1 / 127.5, 1 / 127.5],
          ];
    // Pixels (y, x) of a patch in the order the stem reads them: raster order for the linear stem;
    // for the hmlp stem quadrant by quadrant, cell by cell ((p/4)² pixels each, raster order within).
    const order: [number, number][] = [];
    if (c.stem === "hmlp") {
      const cell = p / 4;
      for (let qy = 0; qy < 2; qy++)
        for (let qx = 0; qx < 2; qx++)
          for (let cy = 0; cy < 2; cy++)
            for (let cx = 0; cx < 2; cx++)
              for (let y = 0; y < cell; y++)
                for (let x = 0; x < cell; x++) order.push([(2 * qy + cy) * cell + y, (2 * qx + cx) * cell + x]);
    } else {
      for (let y = 0; y < p; y++) for (let x = 0; x < p; x++) order.push([y, x]);
    }
    // A cell holds its pixels in every frame of the tubelet; the linear stem's "cell" is the patch.
    const cellPixels = c.stem === "hmlp" ? (p / 4) ** 2 : p * p;
    let o = 0;
    for (let tg = 0; tg < c.frames / c.tubelet; tg++) {
      for (let r = 0; r < rows; r++) {
        for (let col = 0; col < cols; col++) {
          for (let start = 0; start < order.length; start += cellPixels) {
            for (let dt = 0; dt < c.tubelet; dt++) {
              const f = tg * c.tubelet + dt;
              for (let k = start; k < start + cellPixels; k++) {
                const i = ((f * c.height + r * p + order[k]![0]) * c.width + col * p + order[k]![1]) * 3;
                for (let ch = 0; ch < 3; ch++) out[o++] = ((frames[i + ch] as number) - shift[ch]!) * scale[ch]!;
              }
            }
          }
        }
      }
    }
    return out;
  }

  /** Vision tower + projector on patches [batch, numVisual, patchDim] → visual tokens [batch, numVisual, dModel]. */
  encodeVideo(patches: tf.Tensor3D): tf.Tensor3D {
    const c = this.config;
    const nSpatial = (c.height / c.patchSize) * (c.width / c.patchSize);
    const pos = this.p("vision.pos_temporal")
      .reshape([c.frames / c.tubelet, 1, c.visionDim])
      .add(this.p("vision.pos_spatial").reshape([1, nSpatial, c.visionDim]))
      .reshape([this.numVisual, c.visionDim]);
    let x = this.embedPatches(patches).add(pos) as tf.Tensor3D;
    for (let i = 0; i < c.visionLayers; i++) x = this.block(x, `vision.blocks.${i}`, c.visionHeads, null, null).x;
    x = this.layerNorm(x, "vision.ln_f") as tf.Tensor3D;
    return this.linear(this.gelu(this.linear(x, "projector.fc1")), "projector.fc2") as tf.Tensor3D;
  }

  /** The dense head on visual tokens [batch, numVisual, dModel] → label logits [batch, numVisual, denseLabels]. */
  denseLogits(visual: tf.Tensor3D): tf.Tensor3D {
    if (this.config.denseLabels === 0) throw new Error("denseLogits: the model has no dense head (config.denseLabels is 0)");
    return this.linear(visual, "vision.dense_head") as tf.Tensor3D;
  }

  /** Patches [batch, numVisual, patchDim] → [batch, numVisual, visionDim], by the config's stem. */
  private embedPatches(patches: tf.Tensor3D): tf.Tensor3D {
    const c = this.config;
    const [b, n] = patches.shape;
    if (c.stem === "hmlp") {
      // patchify lays a patch out as 4 quadrants × 4 cells × cell values: each stage is a reshape.
      const cells = this.gelu(this.linear(patches.reshape([b, n, 16, -1]), "vision.stem.0"));
      const quadrants = this.gelu(this.linear(cells.reshape([b, n, 4, -1]), "vision.stem.1"));
      return this.linear(quadrants.reshape([b, n, -1]), "vision.stem.2") as tf.Tensor3D;
    }
    return this.linear(patches, "vision.patch_embed") as tf.Tensor3D;
  }

  /** Patches of several videos as one tensor [batch, numVisual, patchDim]. */
  patchTensor(videos: readonly VideoInput[]): tf.Tensor3D {
    const dim = patchDim(this.config);
    const all = new Float32Array(videos.length * this.numVisual * dim);
    videos.forEach((v, i) => all.set(this.patchify(v.frames, v.videoId), i * this.numVisual * dim));
    return tf.tensor3d(all, [videos.length, this.numVisual, dim]);
  }

  /**
   * Visual tokens [batch, numVisual, dModel], no gradient, cached per (video id, weights version): a
   * video is encoded once per model version, so a video id must always name the same frames. The
   * version is a counter, not a hash of the weights, because hashing reads them back synchronously.
   * The caller owns (and disposes) the returned tensor.
   */
  visualTokens(videos: readonly VideoInput[]): tf.Tensor3D {
    if (this.visualCacheVersion !== this.visionVersion) {
      this.clearVisualCache();
      this.visualCacheVersion = this.visionVersion;
    }
    const missing = [...new Map(videos.filter((v) => !this.visualCache.has(v.videoId)).map((v) => [v.videoId, v])).values()];
    if (missing.length) {
      const encoded = tf.tidy(() => this.encodeVideo(this.patchTensor(missing)));
      // keep(): the cache outlives any tidy() this call happens inside.
      tf.unstack(encoded).forEach((t, i) => this.visualCache.set((missing[i] as VideoInput).videoId, tf.keep(t) as tf.Tensor2D));
      encoded.dispose();
    }
    const out = tf.tidy(() => tf.stack(videos.map((v) => this.visualCache.get(v.videoId) as tf.Tensor2D)) as tf.Tensor3D);
    while (this.visualCache.size > this.visualCacheSize) {
      const oldest = this.visualCache.keys().next().value as string;
      this.visualCache.get(oldest)?.dispose();
      this.visualCache.delete(oldest);
    }
    return out;
  }

  // ─── Language model ────────────────────────────────────────────────────────────────────────────

  /**
   * The causal transformer over [visual tokens | text tokens].
   * - `visual` [batch, numVisual, dModel], or null when continuing from `cache` (decoding).
   * - `tokens` [batch, time] int32; `positions` [batch, rows] int32, one per row of the input
   *   (visual rows first when `visual` is given); `bias` [batch, 1, rows, keys] (see attentionBias).
   * Returns the final hidden states of the text rows [batch, time, dModel] and the updated cache
   * (empty when neither `cache` nor `wantCache` is given: scoring and training need none).
   */
  forward(
    visual: tf.Tensor3D | null,
    tokens: tf.Tensor2D,
    positions: tf.Tensor2D,
    bias: tf.Tensor4D | null,
    cache: KvCache | null = null,
    wantCache = true,
  ): { hidden: tf.Tensor3D; cache: KvCache } {
    const c = this.config;
    const [b, t] = tokens.shape;
    // A one-hot matmul when training (wasm lacks gather's gradient); a plain gather otherwise. Both
    // give the table rows exactly.
    const embed = (ids: tf.Tensor2D, depth: number, table: tf.Tensor) =>
      recordingGradients()
        ? matMul2d(oneHot(ids.reshape([-1]) as tf.Tensor1D, depth), table as tf.Tensor2D)
        : tf.gather(table, ids.reshape([-1]) as tf.Tensor1D);
    const tok = embed(tokens, c.vocabSize, this.p("text.wte")).reshape([b, t, c.dModel]);
    let x = (visual ? tf.concat([visual, tok], 1) : tok) as tf.Tensor3D;
    const rows = x.shape[1];
    const rope = c.positionEncoding === "rope" ? ropeTables(positions, c.dModel / c.nHeads) : null;
    if (!rope) x = x.add(embed(positions, this.maxPositions, this.p("text.wpe")).reshape([b, rows, c.dModel])) as tf.Tensor3D;
    const next: KvCache = { k: [], v: [] };
    // groupedAttention's layout of the mask, made once for every layer.
    const layerBias = bias && !cache ? bias.transpose([2, 0, 1, 3]) : bias;
    for (let i = 0; i < c.nLayers; i++) {
      const past = cache ? { k: cache.k[i] as tf.Tensor4D, v: cache.v[i] as tf.Tensor4D } : null;
      const out = this.block(x, `blocks.${i}`, c.nHeads, layerBias, past, rope, wantCache || cache !== null);
      x = out.x;
      if (out.k && out.v) {
        next.k.push(out.k);
        next.v.push(out.v);
      }
    }
    x = this.layerNorm(x, "ln_f") as tf.Tensor3D;
    const hidden = (visual ? x.slice([0, visual.shape[1], 0], [b, t, c.dModel]) : x) as tf.Tensor3D;
    return { hidden, cache: next };
  }

  /** Next-token logits [batch, time, vocab] from hidden states (LM head tied to the token embedding). */
  logits(hidden: tf.Tensor3D): tf.Tensor3D {
    const [b, t, d] = hidden.shape;
    return matMul2d(hidden.reshape([b * t, d]) as tf.Tensor2D, this.p("text.wte").transpose() as tf.Tensor2D).reshape([
      b,
      t,
      this.config.vocabSize,
    ]);
  }
}

/** Rotary position tables for a batch's rows: cos and sin of position × frequency, [batch, 1, rows, headDim/2]. */
interface Rope {
  cos: tf.Tensor4D;
  sin: tf.Tensor4D;
}

/**
 * RoPE (Su et al. 2021, "RoFormer"): each pair of query/key features is rotated by an angle
 * proportional to the row's position, so a query–key score depends on their distance only — what a
 * judge reading "the answer, a fixed distance back" from its verdict needs whatever the context's
 * length. (Measured here: a warm-first-answer verdict rule reached 64 % with RoPE vs 56 % with learned
 * positions after 100 steps; a context rule stayed at chance with both.)
 */
function ropeTables(positions: tf.Tensor2D, headDim: number): Rope {
  const half = headDim / 2;
  const freq = tf.tensor1d(Array.from({ length: half }, (_, i) => 10000 ** (-i / half)));
  const [b, rows] = positions.shape;
  const angles = positions
    .toFloat()
    .reshape([b, 1, rows, 1])
    .mul(freq.reshape([1, 1, 1, half]));
  return { cos: tf.cos(angles) as tf.Tensor4D, sin: tf.sin(angles) as tf.Tensor4D };
}

/** x [batch, heads, rows, headDim] rotated pairwise (first half with second half, GPT-NeoX layout). */
function rotate(x: tf.Tensor4D, { cos, sin }: Rope): tf.Tensor4D {
  const [x1, x2] = tf.split(x, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
  return tf.concat([x1.mul(cos).sub(x2.mul(sin)), x1.mul(sin).add(x2.mul(cos))], 3) as tf.Tensor4D;
}

/** Per-channel mean and 1 / max(std, 1/√n) of an RGB clip (tf.image.per_image_standardization). */
function clipStandardisation(frames: Uint8Array): [number[], number[]] {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < frames.length; i++) {
    const v = frames[i] as number;
    sum[i % 3]! += v;
    sq[i % 3]! += v * v;
  }
  const n = frames.length / 3;
  const mean = sum.map((s) => s / n);
  const inv = sq.map((q, k) => 1 / Math.max(Math.sqrt(Math.max(0, q / n - mean[k]! ** 2)), 1 / Math.sqrt(n)));
  return [mean, inv];
}

/**
 * a·b for 2-D tensors, with a gradient made of plain matmuls: the wasm backend runs a matmul with a
 * transposed operand ~20× slower than an explicit transpose followed by a plain matmul, and tfjs's
 * own matMul gradient uses transposed operands (see docs/benchmarks.md).
 */
const matMul2dGrad = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor2D, b as tf.Tensor2D]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, sb.transpose()), tf.matMul(sa.transpose(), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return recordingGradients() ? matMul2dGrad(a, b) : tf.matMul(a, b);
}

/** x·w + b for 2-D x, one fused kernel forward; the gradient as in matMul2d. */
const linear2dGrad = tf.customGrad((x, w, b, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor2D, w as tf.Tensor2D]);
  return {
    value: tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b as tf.Tensor1D }) as tf.Tensor2D,
    gradFunc: (dy, saved) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, sw.transpose()), tf.matMul(sx.transpose(), dy as tf.Tensor2D), columnSums(dy as tf.Tensor2D)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

export function linear2d(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  // (tf.fused.matMul is itself a custom-gradient op: slower than matMul + add for one-row inputs.)
  return recordingGradients() ? linear2dGrad(x, w, b) : tf.matMul(x, w).add(b);
}

/**
 * Σ over rows of a 2-D tensor, as a ones-row matmul: tfjs's sum(0) transposes the whole input first
 * on wasm, a bias gradient's largest cost.
 */
function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  return tf.matMul(tf.ones([1, x.shape[0]]), x).reshape([x.shape[1]]);
}

/** x̂·w + b, x̂ = (x − mean)/√(var + eps) over the last axis; gradients by hand (half the kernels of autograd's). */
const layerNormGrads = new Map<number, (x: tf.Tensor2D, w: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D>();

function layerNormGrad(eps: number) {
  let f = layerNormGrads.get(eps);
  if (!f) {
    f = tf.customGrad((x, w, b, save) => {
      const { xhat, r } = normalize(x as tf.Tensor2D, eps);
      (save as tf.GradSaveFunc)([xhat, r, w as tf.Tensor1D]);
      return {
        value: xhat.mul(w as tf.Tensor1D).add(b as tf.Tensor1D),
        gradFunc: (dy, saved) => {
          const [sx, sr, sw] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
          const g = dy as tf.Tensor2D;
          // dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = dy·w
          const gh = g.mul(sw);
          const dx = gh
            .sub(gh.mean(-1, true))
            .sub(sx.mul(gh.mul(sx).mean(-1, true)))
            .mul(sr);
          return [dx, columnSums(g.mul(sx) as tf.Tensor2D), columnSums(g)];
        },
      };
    }) as (x: tf.Tensor2D, w: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D;
    layerNormGrads.set(eps, f);
  }
  return f;
}

function normalize(x: tf.Tensor2D, eps: number): { xhat: tf.Tensor2D; r: tf.Tensor2D } {
  const centered = x.sub(x.mean(-1, true));
  const r = centered.square().mean(-1, true).add(eps).rsqrt() as tf.Tensor2D;
  return { xhat: centered.mul(r), r };
}

/** LayerNorm over the last axis of any-rank x. */
export function layerNorm(x: tf.Tensor, w: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor {
  const d = x.shape[x.rank - 1] as number;
  const x2 = x.reshape([-1, d]) as tf.Tensor2D;
  const y = recordingGradients() ? layerNormGrad(eps)(x2, w, b) : normalize(x2, eps).xhat.mul(w).add(b);
  return y.reshape(x.shape);
}

/**
 * out[m, c, n] = Σ_k input[k, m, c] · filter[k, c, n]: a batched matmul over channels c, as one
 * depthwise convolution (window k along the height, channel multiplier n). The wasm backend runs
 * batched matmuls in a naive loop (~2 GFLOP/s) but convolutions in XNNPACK; the gradients are the
 * same kind of convolution, so training never reaches the slow kernel either.
 */
const channelMatMul = tf.customGrad((input, filter, save) => {
  const [k, m, c] = (input as tf.Tensor3D).shape;
  const n = (filter as tf.Tensor3D).shape[2];
  (save as tf.GradSaveFunc)([input as tf.Tensor3D, filter as tf.Tensor3D]);
  return {
    value: channelMatMulKernel(input as tf.Tensor3D, filter as tf.Tensor3D),
    gradFunc: (dy, saved) => {
      const [si, sf] = saved as [tf.Tensor3D, tf.Tensor3D];
      const g = (dy as tf.Tensor).reshape([m, c, n]) as tf.Tensor3D;
      // d input[k, m, c] = Σ_n dy[m, c, n] · filter[k, c, n];  d filter[k, c, n] = Σ_m input[k, m, c] · dy[m, c, n].
      const dInput = channelMatMulKernel(g.transpose([2, 0, 1]), sf.transpose([2, 1, 0])).transpose([2, 0, 1]);
      const dFilter = channelMatMulKernel(si.transpose([1, 0, 2]), g);
      return [dInput.reshape([k, m, c]), dFilter.reshape([k, c, n])];
    },
  };
}) as (input: tf.Tensor3D, filter: tf.Tensor3D) => tf.Tensor3D;

function channelMatMulKernel(input: tf.Tensor3D, filter: tf.Tensor3D): tf.Tensor3D {
  const [k, m, c] = input.shape;
  const n = filter.shape[2];
  return tf
    .depthwiseConv2d(input.reshape([1, k, m, c]) as tf.Tensor4D, filter.reshape([k, 1, c, n]) as tf.Tensor4D, 1, "valid")
    .reshape([m, c, n]);
}

/**
 * Attention of every (sequence, head) at once without batched matmuls: q, k, v [batch, time, heads,
 * headDim] → [batch, time, heads·headDim]. Scores are laid out [query, batch·heads, key], so the
 * softmax runs over the last axis and `bias` is [queries, batch, 1, keys].
 */
export function groupedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor | null): tf.Tensor3D {
  const [b, t, h, hd] = q.shape;
  const mm = recordingGradients() ? channelMatMul : channelMatMulKernel;
  // scores[i, (b,h), j] = Σ_d q[b, i, h, d] · k[b, j, h, d] / √hd
  const qIn = q
    .mul(1 / Math.sqrt(hd))
    .transpose([3, 1, 0, 2])
    .reshape([hd, t, b * h]) as tf.Tensor3D;
  const kFilter = k.transpose([3, 0, 2, 1]).reshape([hd, b * h, t]) as tf.Tensor3D;
  let scores: tf.Tensor = mm(qIn, kFilter);
  if (bias) scores = scores.reshape([t, b, h, t]).add(bias);
  const p = tf.softmax(scores.reshape([t, b * h, t]));
  // out[i, (b,h), d] = Σ_j p[i, (b,h), j] · v[b, j, h, d]
  const pIn = p.transpose([2, 0, 1]) as tf.Tensor3D;
  const vFilter = v.transpose([1, 0, 2, 3]).reshape([t, b * h, hd]) as tf.Tensor3D;
  return mm(pIn, vFilter)
    .reshape([t, b, h * hd])
    .transpose([1, 0, 2]) as tf.Tensor3D;
}

/**
 * True inside tf.grad / tf.variableGrads. The custom-gradient wrappers cost ~0.2 ms per call in
 * tfjs, a large share of a decoding step, so inference calls the kernels directly. (Engine state of
 * the pinned tfjs 4.22.)
 */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}

/**
 * One-hot rows as float32. (tfjs-backend-wasm 4.22's OneHot kernel ignores a float32 dtype and
 * writes int32 bits, so the one-hot is made as int32 and cast.)
 */
export function oneHot(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.oneHot(ids, depth).cast("float32") as tf.Tensor2D;
}

/**
 * Additive attention mask [batch, 1, queries, keys]: query row q (absolute index `queryOffset + q`)
 * sees key j when j ≤ its index (causal) and key j is not padding.
 */
export function attentionBias(keyValid: readonly Uint8Array[], numQueries: number, queryOffset: number): tf.Tensor4D {
  const b = keyValid.length;
  const keys = (keyValid[0] as Uint8Array).length;
  const data = new Float32Array(b * numQueries * keys);
  keyValid.forEach((valid, bi) => {
    for (let q = 0; q < numQueries; q++) {
      const base = (bi * numQueries + q) * keys;
      const abs = queryOffset + q;
      for (let j = 0; j < keys; j++) data[base + j] = j <= abs && valid[j] ? 0 : NEG_INF;
    }
  });
  return tf.tensor4d(data, [b, 1, numQueries, keys]);
}
