// The dense head's labels agree with what the renderer paints.
import { describe, expect, it } from "vitest";
import { COLOURS, COLOUR_RGB, DENSE_LABELS, SHAPES, denseTargets, generateScene, renderClip } from "../src/index.ts";

describe("denseTargets", () => {
  it("marks a token's colour exactly where the renderer paints that colour in the token's frames", () => {
    const dims = { frames: 8, height: 32, width: 32, patchSize: 8, tubelet: 2 };
    for (let seed = 0; seed < 20; seed++) {
      // No noise and no specks: every object-coloured pixel belongs to an object.
      const scene = { ...generateScene(seed, { maxObjects: 4 }), noise: { amplitude: 0, specks: 0, seed: 1 } };
      const frames = renderClip(scene, dims);
      const labels = denseTargets(scene, dims);
      const k = DENSE_LABELS.length;
      const rows = dims.height / dims.patchSize;
      const cols = dims.width / dims.patchSize;
      expect(labels.length).toBe((dims.frames / dims.tubelet) * rows * cols * k);
      for (let t = 0; t < dims.frames / dims.tubelet; t++)
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++) {
            const token = (t * rows + r) * cols + c;
            for (const [ci, colour] of COLOURS.entries()) {
              let painted = false;
              for (let f = t * dims.tubelet; f < (t + 1) * dims.tubelet; f++)
                for (let y = r * dims.patchSize; y < (r + 1) * dims.patchSize; y++)
                  for (let x = c * dims.patchSize; x < (c + 1) * dims.patchSize; x++) {
                    const i = ((f * dims.height + y) * dims.width + x) * 3;
                    const rgb = COLOUR_RGB[colour];
                    if (frames[i] === rgb[0] && frames[i + 1] === rgb[1] && frames[i + 2] === rgb[2]) painted = true;
                  }
              // Overlapping objects may hide one another's pixels: a label without paint is allowed
              // only where another object covers it; paint without a label never is.
              if (painted) expect(labels[token * k + ci], `seed ${seed} token ${token} ${colour}`).toBe(1);
            }
          }
      // Every object's shape is marked somewhere while it is visible.
      for (const o of scene.objects) {
        const si = DENSE_LABELS.indexOf(o.shape);
        expect(SHAPES).toContain(o.shape);
        expect(labels.some((v, i) => i % k === si && v === 1)).toBe(true);
      }
    }
  });

  it("refuses a frame count other than the scene's", () => {
    expect(() => denseTargets(generateScene(1), { frames: 4, height: 32, width: 32, patchSize: 16, tubelet: 1 })).toThrow(/frames/);
  });
});
