// One self-contained HTML page: inline CSS and inline SVG, no script, nothing fetched. What goes in
// as text is escaped; only `Html` values (built here or by the caller on purpose) pass as markup.

/** Markup that is inserted as is. */
export interface Html {
  html: string;
}

export const raw = (html: string): Html => ({ html });

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export type Cell = string | number | boolean | null | undefined | Html;

const cell = (v: Cell): string => (v === null || v === undefined ? "–" : typeof v === "object" ? v.html : escapeHtml(String(v)));

export type Column<T> = (keyof T & string) | { key: keyof T & string; title: string };

/** An HTML table of `rows`; `columns` picks and orders the fields (a missing value shows "–"). */
export function table<T extends Record<string, Cell>>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cols = columns.map((c) => (typeof c === "string" ? { key: c, title: c } : c));
  const head = cols.map((c) => `<th>${escapeHtml(c.title)}</th>`).join("");
  const body = rows.map((r) => `<tr>${cols.map((c) => `<td>${cell(r[c.key])}</td>`).join("")}</tr>`).join("\n");
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** A `<pre>` block of text (configs, prompt templates). */
export const pre = (text: string): string => `<pre>${escapeHtml(text)}</pre>`;

export interface Section {
  heading: string;
  /** Markup of the section body (charts as inline SVG, tables, text already escaped). */
  html: string;
}

export const PAGE_CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
pre { background: #f7f7f7; padding: .75rem; overflow-x: auto; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; } .charts svg { max-width: 100%; height: auto; }
.note { color: #666; }
`;

/** The page: a title, then one `<section>` per entry with an anchor and a table of contents. */
export function htmlPage(page: { title: string; sections: readonly Section[]; subtitle?: string }): string {
  const id = (i: number) => `s${i + 1}`;
  const toc = page.sections.map((s, i) => `<li><a href="#${id(i)}">${escapeHtml(s.heading)}</a></li>`).join("");
  const sections = page.sections
    .map((s, i) => `<section id="${id(i)}">\n<h2>${escapeHtml(s.heading)}</h2>\n${s.html}\n</section>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.subtitle ? `<p class="note">${escapeHtml(page.subtitle)}</p>` : ""}
<nav><ul>${toc}</ul></nav>
${sections}
</body>
</html>
`;
}

/** Several SVG charts side by side (they wrap on narrow screens). */
export const chartRow = (svgs: readonly string[]): string => `<div class="charts">${svgs.map(stripXmlDecl).join("\n")}</div>`;

const stripXmlDecl = (svg: string) => svg.replace(/^<\?xml[^>]*>\s*/, "");
