import { fromBinary } from "@bufbuild/protobuf";
import { PreferenceShardSchema } from "@isrdpo/contracts";
import { LocalArtifactStore } from "@isrdpo/bus";
const [dir, prefix] = process.argv.slice(2);
const store = new LocalArtifactStore(dir!);
const reasons: Record<string, number> = {};
const samples: string[] = [];
for (const ref of await store.list(prefix!)) {
  const s = fromBinary(PreferenceShardSchema, await store.get(ref));
  for (const r of s.records) {
    const k = r.tie ? r.tieReason.replace(/[0-9.]+/g, "#") : "decided";
    reasons[k] = (reasons[k] ?? 0) + 1;
    if (samples.length < 14 && r.tieReason !== "identical answers") samples.push(JSON.stringify([r.prompt.slice(0, 40), r.chosen.slice(0, 60), r.rejected.slice(0, 60), r.tie, r.confidence.toFixed(3), r.context.slice(0, 50)]));
  }
}
console.log(reasons);
console.log(samples.join("\n"));
