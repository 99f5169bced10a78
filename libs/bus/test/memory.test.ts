import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ArtifactIntegrityError, LocalArtifactStore, MemoryBus } from "../src/index.ts";
import { describeConformance } from "./conformance.ts";

describeConformance("MemoryBus + LocalArtifactStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "isrdpo-artifacts-"));
  const bus = new MemoryBus({ ackWaitMs: 1000 });
  return {
    bus,
    artifacts: new LocalArtifactStore(dir),
    close: async () => {
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LocalArtifactStore", () => {
  it("detects bytes changed on disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "isrdpo-artifacts-"));
    try {
      const store = new LocalArtifactStore(dir);
      const ref = await store.put("artifact://a/b", new TextEncoder().encode("original"));
      await writeFile(join(dir, "data", "a", "b"), "tampered");
      await expect(store.get(ref.uri)).rejects.toBeInstanceOf(ArtifactIntegrityError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
