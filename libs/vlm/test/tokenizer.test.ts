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
