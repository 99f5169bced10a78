import { crc32c } from "@aws-crypto/crc32c";
import { describe, expect, it } from "vitest";
import {
  decodeEvent,
  eventFile,
  frameRecord,
  maskedCrc32c,
  MetricsHistory,
  parseJsonl,
  readRecords,
  stepRecord,
  toJsonl,
} from "../src/index.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("TFRecord framing", () => {
  it("uses CRC-32C with TFRecord's mask", () => {
    // The CRC-32C check value (RFC 3720 B.4): crc32c("123456789") = 0xe3069283.
    expect(crc32c(bytes("123456789"))).toBe(0xe3069283);
    const rotated = ((0xe3069283 >>> 15) | (0xe3069283 << 17)) >>> 0;
    expect(maskedCrc32c(bytes("123456789"))).toBe((rotated + 0xa282ead8) % 2 ** 32);
  });

  it("frames length, crc of length, data, crc of data; a flipped bit is caught", () => {
    const rec = frameRecord(bytes("hello"));
    const view = new DataView(rec.buffer);
    expect(rec.length).toBe(8 + 4 + 5 + 4);
    expect(view.getBigUint64(0, true)).toBe(5n);
    expect(view.getUint32(8, true)).toBe(maskedCrc32c(rec.subarray(0, 8)));
    expect(new TextDecoder().decode(rec.subarray(12, 17))).toBe("hello");
    expect(view.getUint32(17, true)).toBe(maskedCrc32c(bytes("hello")));
    expect(readRecords(rec).map((r) => new TextDecoder().decode(r))).toEqual(["hello"]);
    const bad = rec.slice();
    bad[13]! ^= 1;
    expect(() => readRecords(bad)).toThrow(/data crc mismatch/);
    expect(() => readRecords(rec.subarray(0, 15))).toThrow(/truncated data/);
  });
});

describe("event file", () => {
  it("round-trips a metrics history: version record first, then one event per step with its scalars", () => {
    const history = [1, 2, 3].map((step) =>
      stepRecord(
        {
          step,
          epoch: step / 3,
          loss: 1 / step,
          lr: 3e-4,
          gradNorm: 0.5,
          tokensPerSecond: 1000,
          metrics: { "rewards/margins": step * 0.25 },
        },
        1_700_000_000 + step,
      ),
    );
    const records = readRecords(eventFile(history, 1_700_000_000));
    expect(records).toHaveLength(4);
    const [version, ...steps] = records.map(decodeEvent);
    expect(version).toEqual({ wallTime: 1_700_000_000, step: 0, fileVersion: "brain.Event:2", scalars: {} });
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3]);
    expect(steps[1]!.wallTime).toBe(1_700_000_002);
    const s = steps[1]!.scalars;
    expect(Object.keys(s).sort()).toEqual(["epoch", "grad_norm", "learning_rate", "loss", "rewards/margins", "tokens_per_second"]);
    expect(s.loss).toBeCloseTo(0.5, 6); // simple_value is a float32
    expect(s["rewards/margins"]).toBe(0.5);
    expect(s.learning_rate).toBeCloseTo(3e-4, 9);
  });

  it("JSONL history round-trips and names the bad line", () => {
    const history = [stepRecord({ step: 1, epoch: 0, loss: 0.7, lr: 1e-3, metrics: {} }, 5)];
    expect(parseJsonl(toJsonl(history), "h.jsonl")).toEqual(history);
    expect(() => parseJsonl(`${toJsonl(history)}{"loss": 1}\n`, "h.jsonl")).toThrow('h.jsonl:2: expected an object with a numeric "step"');
    expect(() => parseJsonl("{", "h.jsonl")).toThrow(/^h\.jsonl:1: not JSON/);
  });
});

describe("MetricsHistory", () => {
  it("replaces the steps a resumed job logs again", () => {
    const h = new MetricsHistory([1, 2, 3, 4].map((step) => ({ step, loss: step })));
    h.add({ step: 3, loss: 30 });
    h.add({ step: 4, loss: 40 });
    expect(h.records).toEqual([
      { step: 1, loss: 1 },
      { step: 2, loss: 2 },
      { step: 3, loss: 30 },
      { step: 4, loss: 40 },
    ]);
  });
});
