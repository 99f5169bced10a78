// The responses stage: every item of a shard answered `responses_per_item` times by π_t.
import { create, toBinary } from "@bufbuild/protobuf";
import { ResponsesShardSchema, type WorkItem } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import type { ServiceContext } from "@isrdpo/runtime";
import { withModel, sampling, shardSeed, shardOutputUri, shardCompleted, shardVideos } from "@isrdpo/serving";
import { answerQuestions } from "@isrdpo/vlm";

export function responsesHandler(ctx: ServiceContext): WorkHandler {
  return async (task) => {
    if (task.queue !== "responses" || task.payload.params.case !== "responses")
      throw new Error("responses: expected a responses work item");
    const item: WorkItem = task.payload;
    const params = task.payload.params.value;
    return withModel(ctx, item.model, "work_item.model", async (policy) => {
      const { ready, failures } = await shardVideos(policy, item.items);
      const s = sampling(params.sampling, "response_sampling", policy);
      const answers = await answerQuestions(
        policy,
        ready.map((r) => ({ video: r.video, question: r.item.instruction })),
        { ...s, seed: shardSeed(s.seed, item) },
        params.responsesPerItem,
      );
      const shard = create(ResponsesShardSchema, {
        records: ready.map((r, i) => ({ itemId: r.item.id, responses: answers[i] })),
        failures,
      });
      const output = await ctx.artifacts.put(shardOutputUri(item), toBinary(ResponsesShardSchema, shard), "application/x-protobuf");
      return shardCompleted(item, output, shard.records.length, failures);
    });
  };
}
