// Charts as Vega-Lite specs, rendered to SVG by Vega's headless renderer (no DOM, no canvas): the
// same spec renders in Node for an HTML report and in the browser for the live dashboard.
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export interface Point {
  x: number;
  /** null: no value at this x (e.g. "n/a"); left out of the line, never drawn as 0. */
  y: number | null;
  /** Standard deviation: drawn as a ±sd band around the line. */
  sd?: number;
}

export interface Series {
  name: string;
  points: Point[];
}

export interface ChartSpec {
  title: string;
  xTitle: string;
  yTitle: string;
  series: Series[];
  yDomain?: [number, number];
  /** d3-format of the y axis, e.g. ".0%" or ".2f". */
  yFormat?: string;
  /** Integer x (iterations, steps): ticks on whole numbers only. Default true. */
  xInteger?: boolean;
  width?: number;
  height?: number;
}

/** Series order is the legend's and the colours' order, not alphabetical. */
const color = (series: Series[]) => ({
  field: "series",
  type: "nominal" as const,
  title: null,
  sort: series.map((s) => s.name),
});

const rows = (series: Series[]) =>
  series.flatMap((s) =>
    s.points
      .filter((p) => p.y !== null && Number.isFinite(p.y))
      .map((p) => ({
        series: s.name,
        x: p.x,
        y: p.y,
        ...(p.sd !== undefined ? { lo: p.y! - p.sd, hi: p.y! + p.sd } : {}),
      })),
  );

const base = (c: ChartSpec) => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: c.title,
  width: c.width ?? 360,
  height: c.height ?? 200,
  background: "white",
  config: { font: "system-ui, sans-serif", legend: { orient: "right" as const } },
});

const yEncoding = (c: ChartSpec) => ({
  field: "y",
  type: "quantitative" as const,
  title: c.yTitle,
  ...(c.yDomain ? { scale: { domain: c.yDomain } } : {}),
  ...(c.yFormat ? { axis: { format: c.yFormat } } : {}),
});

/** One line per series (points marked), an optional ±sd band, a legend. */
export function lineChartSpec(c: ChartSpec): TopLevelSpec {
  const data = rows(c.series);
  const integer = c.xInteger ?? true;
  const x = {
    field: "x",
    type: "quantitative" as const,
    title: c.xTitle,
    axis: integer ? { tickMinStep: 1, format: "d" } : {},
    scale: { zero: false },
  };
  const banded = data.some((d) => "lo" in d);
  return {
    ...base(c),
    data: { values: data },
    encoding: { x, color: color(c.series) },
    layer: [
      ...(banded
        ? [
            {
              mark: { type: "errorband" as const, opacity: 0.2 },
              transform: [{ filter: "isValid(datum.lo)" }],
              encoding: { y: { field: "lo", type: "quantitative" as const, title: c.yTitle }, y2: { field: "hi" } },
            },
          ]
        : []),
      { mark: { type: "line" as const, point: data.length <= 200 }, encoding: { y: yEncoding(c) } },
    ],
  } as TopLevelSpec;
}

/** Grouped bars: one group per x, one bar per series (e.g. decisive pairs and ties per iteration). */
export function barChartSpec(c: ChartSpec): TopLevelSpec {
  return {
    ...base(c),
    data: { values: rows(c.series) },
    mark: { type: "bar" },
    encoding: {
      x: { field: "x", type: "ordinal", title: c.xTitle, axis: { labelAngle: 0 } },
      xOffset: { field: "series", sort: c.series.map((s) => s.name) },
      y: yEncoding(c),
      color: color(c.series),
    },
  } as TopLevelSpec;
}

/** A Vega-Lite spec as an SVG document string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export const lineChart = (c: ChartSpec): Promise<string> => renderSvg(lineChartSpec(c));
export const barChart = (c: ChartSpec): Promise<string> => renderSvg(barChartSpec(c));
