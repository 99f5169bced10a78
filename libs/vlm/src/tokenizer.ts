import { z } from "zod";

/**
 * Byte-level BPE tokenizer. Ids: special tokens first, then the 256 single bytes (so any input,
 * in any script, encodes: there is no unknown token), then the learned merges in training order.
 * Training is deterministic: ties between equally frequent pairs go to the smaller pair of ids.
 */

export const DEFAULT_SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>"] as const;

// Text is split into chunks (a word with its leading space, a digit, a punctuation run, whitespace)
// and merges never cross chunk borders, as in GPT-2.
const CHUNK = / ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+/gu;

const TokenizerJsonSchema = z.object({
  kind: z.literal("isrdpo-bpe"),
  version: z.literal(1),
  specialTokens: z.array(z.string().min(1)).min(3),
  merges: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
});
export type TokenizerJson = z.infer<typeof TokenizerJsonSchema>;

export class Tokenizer {
  readonly specialTokens: readonly string[];
  readonly merges: ReadonlyArray<readonly [number, number]>;
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  private readonly byteOffset: number;
  private readonly rank = new Map<string, number>(); // "a,b" -> merge index
  private readonly bytesOf: Uint8Array[]; // id -> the bytes it stands for (empty for specials)
  private readonly specialRegex: RegExp;
  private readonly cache = new Map<string, number[]>();

  private constructor(specialTokens: readonly string[], merges: ReadonlyArray<readonly [number, number]>) {
    for (const t of DEFAULT_SPECIAL_TOKENS) {
      if (!specialTokens.includes(t)) throw new Error(`tokenizer: special token ${t} is required`);
    }
    if (new Set(specialTokens).size !== specialTokens.length) throw new Error("tokenizer: duplicate special tokens");
    this.specialTokens = specialTokens;
    this.merges = merges;
    this.byteOffset = specialTokens.length;
    this.padId = specialTokens.indexOf("<pad>");
    this.bosId = specialTokens.indexOf("<bos>");
    this.eosId = specialTokens.indexOf("<eos>");
    this.bytesOf = specialTokens.map(() => new Uint8Array(0));
    for (let b = 0; b < 256; b++) this.bytesOf.push(Uint8Array.of(b));
    merges.forEach(([a, b], i) => {
      const id = this.byteOffset + 256 + i;
      if (a >= id || b >= id) throw new Error(`tokenizer: merge ${i} refers to a later id (${a}, ${b})`);
      const left = this.bytesOf[a] as Uint8Array;
      const right = this.bytesOf[b] as Uint8Array;
      if (left.length === 0 || right.length === 0) throw new Error(`tokenizer: merge ${i} uses a special token`);
      const joined = new Uint8Array(left.length + right.length);
      joined.set(left);
      joined.set(right, left.length);
      this.bytesOf.push(joined);
      this.rank.set(`${a},${b}`, i);
    });
    this.vocabSize = this.bytesOf.length;
    this.specialRegex = specialsRegex(specialTokens);
  }

  /** Learns merges from `corpus` until the vocabulary has `vocabSize` ids (or no pair repeats). */
  static train(corpus: readonly string[], opts: { vocabSize: number; specialTokens?: readonly string[] }): Tokenizer {
    const specials = opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
    const base = specials.length + 256;
    if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < base) {
      throw new Error(`tokenizer: vocabSize must be an integer >= ${base} (specials + 256 bytes), got ${opts.vocabSize}`);
    }
    // Unique chunks with their counts, each as a list of ids.
    const counts = new Map<string, number>();
    const specialRegex = specialsRegex(specials);
    for (const text of corpus) {
      for (const part of splitSpecials(text, specialRegex)) {
        if (specials.includes(part)) continue;
        for (const m of part.matchAll(CHUNK)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
      }
    }
    const words = [...counts.entries()]
      .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
      .map(([w, n]) => ({ ids: [...new TextEncoder().encode(w)].map((b) => b + specials.length), n }));
    const merges: [number, number][] = [];
    while (base + merges.length < opts.vocabSize) {
      const pairs = new Map<number, number>();
      const key = (a: number, b: number) => a * 1_000_003 + b;
      for (const w of words) {
        for (let i = 0; i + 1 < w.ids.length; i++) {
          const k = key(w.ids[i] as number, w.ids[i + 1] as number);
          pairs.set(k, (pairs.get(k) ?? 0) + w.n);
        }
      }
      let bestKey = -1;
      let bestCount = 1; // a pair seen once is not worth a token
      for (const [k, n] of pairs) {
        if (n > bestCount || (n === bestCount && bestKey !== -1 && k < bestKey)) {
          bestKey = k;
          bestCount = n;
        }
      }
      if (bestKey === -1) break;
      const a = Math.floor(bestKey / 1_000_003);
      const b = bestKey % 1_000_003;
      const id = base + merges.length;
      merges.push([a, b]);
      for (const w of words) w.ids = mergePair(w.ids, a, b, id);
    }
    return new Tokenizer(specials, merges);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const part of splitSpecials(text, this.specialRegex)) {
      const special = this.specialTokens.indexOf(part);
      if (special >= 0) {
        out.push(special);
        continue;
      }
      // No spread: a huge chunk's ids would overflow the argument list (RangeError).
      for (const m of part.matchAll(CHUNK)) for (const id of this.encodeChunk(m[0])) out.push(id);
    }
    return out;
  }

  /** Text of `ids`; special tokens are written out unless `skipSpecial`. Unknown ids are an error. */
  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    const parts: string[] = [];
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) parts.push(new TextDecoder().decode(Uint8Array.from(bytes)));
      bytes = [];
    };
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`tokenizer: id ${id} is out of range`);
      if (id < this.byteOffset) {
        flush();
        if (!opts.skipSpecial) parts.push(this.specialTokens[id] as string);
      } else {
        bytes.push(...(this.bytesOf[id] as Uint8Array));
      }
    }
    flush();
    return parts.join("");
  }

  toJSON(): TokenizerJson {
    return { kind: "isrdpo-bpe", version: 1, specialTokens: [...this.specialTokens], merges: this.merges.map(([a, b]) => [a, b]) };
  }

  static fromJSON(json: unknown): Tokenizer {
    const parsed = TokenizerJsonSchema.safeParse(json);
    if (!parsed.success) throw new Error(`tokenizer: invalid JSON: ${z.prettifyError(parsed.error)}`);
    return new Tokenizer(parsed.data.specialTokens, parsed.data.merges);
  }

  /**
   * BPE of one chunk: the earliest-learned merge present is applied everywhere, left to right, then
   * the next — the order training used. Done with a heap of (merge rank, position) over a linked list
   * of tokens, so a chunk of n bytes costs O(n log n) whatever its length (a rescan per merge was
   * quadratic: one 16 KB unspaced word froze a service). A merge only ever creates pairs of a later
   * rank (its id is newer than both parts), so popping by (rank, position) is exactly that order.
   */
  private encodeChunk(chunk: string): number[] {
    const hit = this.cache.get(chunk);
    if (hit) return hit;
    const tok = Array.from(new TextEncoder().encode(chunk), (b) => b + this.byteOffset);
    const n = tok.length;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    const heap = new PairHeap();
    const rankAt = (i: number) => (i >= 0 && next[i]! >= 0 ? this.rank.get(`${tok[i]},${tok[next[i]!]}`) : undefined);
    const offer = (i: number) => {
      const r = rankAt(i);
      if (r !== undefined) heap.push(r, i);
    };
    for (let i = 0; i + 1 < n; i++) offer(i);
    for (let top = heap.pop(); top; top = heap.pop()) {
      const [r, i] = top;
      if (!alive[i] || rankAt(i) !== r) continue; // stale: a neighbour was merged since
      const j = next[i]!;
      tok[i] = this.byteOffset + 256 + r;
      alive[j] = 0;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      offer(prev[i]!);
      offer(i);
    }
    const ids = tok.filter((_, i) => alive[i]);
    // Words only: caching arbitrary long chunks would let requests grow the cache without bound.
    if (this.cache.size < 100_000 && chunk.length <= 64) this.cache.set(chunk, ids);
    return ids;
  }
}

/** A binary min-heap of (rank, position) pairs, ordered by rank then position. */
class PairHeap {
  private readonly items: [number, number][] = [];

  push(rank: number, pos: number): void {
    const h = this.items;
    h.push([rank, pos]);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): [number, number] | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

const less = (a: readonly [number, number], b: readonly [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

function mergePair(ids: number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === a && ids[i + 1] === b) {
      out.push(id);
      i++;
    } else {
      out.push(ids[i] as number);
    }
  }
  return out;
}

/** Matches any special token; split() with it keeps the specials as parts of their own. */
function specialsRegex(specials: readonly string[]): RegExp {
  return new RegExp(`(${specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`);
}

function splitSpecials(text: string, regex: RegExp): string[] {
  return text.split(regex).filter((p) => p.length > 0);
}
