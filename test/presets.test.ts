// The model presets a RunSpec may name (libs/orchestration, which does not depend on the model
// library) are exactly the model's presets.
import { SFT_PRESETS } from "@isrdpo/orchestration";
import { PRESET_NAMES } from "@isrdpo/vlm";
import { expect, it } from "vitest";

it("RunSpec presets are the model's presets", () => {
  expect([...SFT_PRESETS]).toEqual([...PRESET_NAMES]);
});
