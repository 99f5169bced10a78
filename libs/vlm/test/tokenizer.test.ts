import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Tokenizer } from "../src/index.ts";
import { CORPUS } from "./helpers.ts";

describe("Tokenizer", () => {
  it("trains deterministically and learns merges", () => {
    const a = Tokenizer.train(CORPUS, { vocabSize: 320 });
    const b = Tokenizer.train([...CORPUS], { vocabSize: 320 });
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
    expect(a.vocabSize).toBeGreaterThan(259);
    expect(a.vocabSize).toBeLessThanOrEqual(320);
    // Frequent words become single tokens.
    expect(a.encode(" the").length).toBe(1);
  });

  it("round-trips any text through the byte fallback, with nothing unknown", () => {
    const tok = Tokenizer.train(CORPUS, { vocabSize: 300 });
    for (const text of ["a red circle", "Ünïcödé ✓ 日本語 🎥", "tabs\tand\nnewlines  ", "", "<pad> is written literally? no"]) {
      const ids = tok.encode(text);
      expect(ids.every((id) => id >= 0 && id < tok.vocabSize)).toBe(true);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it("maps special tokens to their ids and can skip them when decoding", () => {
    const tok = Tokenizer.train(CORPUS, { vocabSize: 300, specialTokens: ["<pad>", "<bos>", "<eos>", "<|user|>"] });
    const ids = tok.encode("<|user|> hi<eos>");
    expect(ids[0]).toBe(3);
    expect(ids.at(-1)).toBe(tok.eosId);
    expect(tok.decode(ids, { skipSpecial: true })).toBe(" hi");
    expect(() => tok.decode([tok.vocabSize])).toThrow(/out of range/);
  });

  it("saves as JSON and loads back identically; rejects bad JSON with a reason", () => {
    const tok = Tokenizer.train(CORPUS, { vocabSize: 310 });
    const copy = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(copy.encode(CORPUS.join(" "))).toEqual(tok.encode(CORPUS.join(" ")));
    expect(() => Tokenizer.fromJSON({ kind: "isrdpo-bpe", version: 1, specialTokens: ["<pad>"], merges: [] })).toThrow(/specialTokens/);
    expect(() => Tokenizer.train(CORPUS, { vocabSize: 10 })).toThrow(/vocabSize/);
  });
});

describe("Tokenizer.encode on hostile input", () => {
  // The reference: rescan for the earliest-learned merge, apply it everywhere left to right, repeat.
  function referenceChunk(tok: Tokenizer, bytes: number[]): number[] {
    let ids = bytes.map((b) => b + tok.specialTokens.length);
    for (;;) {
      let best = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = tok.merges.findIndex(([a, b]) => a === ids[i] && b === ids[i + 1]);
        if (r >= 0 && (best < 0 || r < best)) best = r;
      }
      if (best < 0) return ids;
      const [a, b] = tok.merges[best]!;
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] === a && ids[i + 1] === b) {
          out.push(tok.specialTokens.length + 256 + best);
          i++;
        } else out.push(ids[i]!);
      }
      ids = out;
    }
  }

  it("gives the reference BPE's ids for any word (property, seeded)", () => {
    const tok = Tokenizer.train(CORPUS, { vocabSize: 320 });
    const letters = [..."aeiou rtnslcdhmbwgx"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...letters), { minLength: 1, maxLength: 40 }), (chars) => {
        const word = chars.join("").replace(/ +/g, " ");
        const expected = [...word.matchAll(/ ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+/gu)].flatMap((m) =>
          referenceChunk(tok, [...new TextEncoder().encode(m[0])]),
        );
        expect(tok.encode(word)).toEqual(expected);
      }),
      { seed: 18, numRuns: 300 },
    );
  });

  it("encodes a 1 MB unspaced string without a RangeError (the quadratic BPE ran past the test timeout)", () => {
    const tok = Tokenizer.train(CORPUS, { vocabSize: 320 });
    const word = "the".repeat(350_000);
    expect(tok.decode(tok.encode(word))).toBe(word);
  });
});
