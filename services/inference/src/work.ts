// The responses stage: every item of a shard answered `responses_per_item` times by π_t.
import { ResponsesShardSchema } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import type { ServiceContext } from "@isrdpo/runtime";
import { sampling, shardSeed, shardStage } from "@isrdpo/serving";
import { answerQuestions } from "@isrdpo/vlm";

export function responsesHandler(ctx: ServiceContext): WorkHandler<"responses"> {
  return shardStage(ctx, ResponsesShardSchema, async ({ item, params, policy, ready }) => {
    const s = sampling(params.sampling, "response_sampling", policy);
    const answers = await answerQuestions(
      policy,
      ready.map((r) => ({ video: r.video, question: r.item.instruction })),
      { ...s, seed: shardSeed(s.seed, item) },
      params.responsesPerItem,
    );
    return ready.map((r, i) => ({ itemId: r.item.id, responses: answers[i] }));
  });
}
