import { describe, expect, it } from "vitest";
import { barChart, escapeHtml, htmlPage, lineChart, table } from "../src/index.ts";

/** Vega's SVG labels every mark for screen readers, e.g. "iteration: 1; accuracy: 0.5; series: test-in". */
const marks = (svg: string) => [...svg.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]!);
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

describe("lineChart", () => {
  it("draws one line per series with a legend and a ±sd band", async () => {
    const svg = await lineChart({
      title: "Accuracy",
      xTitle: "iteration",
      yTitle: "accuracy",
      series: [
        { name: "test-in", points: [0, 1, 2].map((x) => ({ x, y: 0.4 + 0.05 * x, sd: 0.02 })) },
        { name: "test-out", points: [0, 1, 2].map((x) => ({ x, y: 0.3 + 0.01 * x })) },
      ],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    const m = marks(svg);
    expect(m).toContain("Symbol legend for fill color and stroke color with 2 values: test-in, test-out");
    expect(m).toContain("iteration: 2; accuracy: 0.5; series: test-in");
    expect(m).toContain("iteration: 1; accuracy: 0.31; series: test-out");
    // the band spans y ± sd for the series that has one, and only for it
    expect(m.some((l) => /^iteration: 0; accuracy: 0\.38;.*series: test-in; hi: 0\.42/.test(l))).toBe(true);
    expect(m.filter((l) => l.includes("series: test-out")).every((l) => !/lo|hi/.test(l))).toBe(true);
    expect(texts(svg)).toEqual(expect.arrayContaining(["Accuracy", "iteration", "accuracy", "test-in", "test-out"]));
  });

  it("puts ticks on whole iterations only", async () => {
    const svg = await lineChart({
      title: "Pairs",
      xTitle: "iteration",
      yTitle: "pairs",
      series: [
        {
          name: "pairs",
          points: [
            { x: 0, y: 10 },
            { x: 1, y: 20 },
            { x: 2, y: 30 },
          ],
        },
      ],
    });
    const numbers = texts(svg).filter((t) => /^[\d.,]+$/.test(t));
    expect(numbers).toEqual(expect.arrayContaining(["0", "1", "2"]));
    expect(numbers.filter((t) => t.includes("."))).toEqual([]);
  });

  it("leaves null values out instead of drawing them as 0", async () => {
    const svg = await lineChart({
      title: "Agreement",
      xTitle: "iteration",
      yTitle: "agreement",
      series: [
        {
          name: "agreement",
          points: [
            { x: 1, y: null },
            { x: 2, y: 0.75 },
          ],
        },
      ],
    });
    const m = marks(svg).filter((l) => l.includes("series:"));
    expect(m).toContain("iteration: 2; agreement: 0.75; series: agreement");
    expect(m.some((l) => l.startsWith("iteration: 1;"))).toBe(false);
  });
});

describe("barChart", () => {
  it("draws grouped bars, one per series and x", async () => {
    const svg = await barChart({
      title: "Judged pairs",
      xTitle: "iteration",
      yTitle: "pairs",
      series: [
        {
          name: "decisive",
          points: [
            { x: 1, y: 10 },
            { x: 2, y: 0 },
          ],
        },
        {
          name: "ties",
          points: [
            { x: 1, y: 4 },
            { x: 2, y: 14 },
          ],
        },
      ],
    });
    const m = marks(svg);
    expect(m.filter((l) => l.includes("series:")).sort()).toEqual([
      "iteration: 1; pairs: 10; series: decisive",
      "iteration: 1; pairs: 4; series: ties",
      "iteration: 2; pairs: 0; series: decisive",
      "iteration: 2; pairs: 14; series: ties",
    ]);
    expect(m).toContain("Symbol legend for fill color with 2 values: decisive, ties");
  });
});

describe("html", () => {
  it("escapes text in tables and pages; the page fetches nothing", () => {
    const t = table(
      [
        { a: "<b>&", b: 1 },
        { a: undefined, b: 2 },
      ],
      ["a", { key: "b", title: "B's" }],
    );
    expect(t).toContain("<td>&lt;b&gt;&amp;</td>");
    expect(t).toContain("<th>B&#39;s</th>");
    expect(t).toContain("<td>–</td>");
    const page = htmlPage({ title: "a <title>", sections: [{ heading: "one", html: "<p>x</p>" }] });
    expect(page).toContain("<title>a &lt;title&gt;</title>");
    expect(page).toContain('<section id="s1">');
    expect(page).not.toMatch(/<script|<link|src="http|href="http/);
    expect(escapeHtml(`"'`)).toBe("&quot;&#39;");
  });
});
