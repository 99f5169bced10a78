import { describe, expect, it } from "vitest";
import { connectNats } from "../src/index.ts";
import { startNatsServer } from "../src/testing.ts";
import type { NatsServer } from "../src/testing.ts";
import { describeConformance } from "./conformance.ts";

describeConformance("NatsBus + NatsArtifactStore", async () => {
  const server = await startNatsServer();
  const { bus, artifacts } = await connectNats({ servers: server.url, ackWaitMs: 1000 });
  return {
    bus,
    artifacts,
    close: async () => {
      await bus.close();
      await server.stop();
    },
  };
});

describe("NatsBus", () => {
  it("sets up idempotently and keeps queued work across a server restart", async () => {
    const server: NatsServer = await startNatsServer();
    try {
      const first = await connectNats({ servers: server.url, ackWaitMs: 1000 });
      await first.bus.enqueue("q", new TextEncoder().encode("kept"), "k1");
      await first.bus.close();
      await server.restart({ hard: true });
      const second = await connectNats({ servers: server.url, ackWaitMs: 1000 });
      const d = (await second.bus.pull("q", { expiresMs: 2000 }))!;
      expect(new TextDecoder().decode(d.data)).toBe("kept");
      await d.ack();
      await second.bus.close();
    } finally {
      await server.stop();
    }
  });
});
