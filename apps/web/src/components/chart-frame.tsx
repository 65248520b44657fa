"use client";
// What every chart on the dashboard shares. Charts are drawn with Recharts: the most used React
// charting library (SVG, so text stays crisp, selectable and styleable by the page's light or
// dark theme), with axes, tooltips, value labels and stacking built in, and kept up to date by
// its maintainers — hand-drawn SVG had none of that (no axis, no values, no tooltip).
import type { ReactNode } from "react";

/** Axis and label text follow the page's text colour (and so its light or dark theme). */
export const TICK = { fill: "currentColor", fontSize: 11 } as const;

/** A UTC day ("2026-12-03") as the per-day charts label it: "Dec 3". */
export const dayLabel = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
/** Tooltips drawn with the theme's own surface and text colours (CSS variables, see globals.css). */
export const TOOLTIP_STYLE = {
  contentStyle: { background: "var(--color-white)", border: "1px solid var(--color-slate-200)", borderRadius: 6, fontSize: 12, color: "var(--color-slate-900)" },
  labelStyle: { color: "var(--color-slate-900)", fontWeight: 600 },
  cursor: { fill: "var(--color-slate-100)" },
} as const;

export function ChartFrame({ title, legend, testId, empty, children, table }: { title: string; legend?: ReactNode; testId: string; empty?: string | null; children: ReactNode; table: ReactNode }) {
  return (
    <figure className="rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200" data-chart={testId}>
      <figcaption className="mb-2 flex flex-wrap items-center justify-between gap-2 text-xs text-slate-600">
        <span className="font-semibold text-slate-900">{title}</span>
        {legend && <span className="flex gap-3">{legend}</span>}
      </figcaption>
      {empty ? <p className="py-6 text-center text-sm text-slate-500">{empty}</p> : <div className="text-slate-600">{children}</div>}
      {/* The same numbers for screen readers, which cannot read a chart. */}
      <div className="sr-only">{table}</div>
    </figure>
  );
}

export function LegendSwatch({ color, label }: { color: string; label: string }) {
  return (
    <span>
      <span aria-hidden="true" className="mr-1 inline-block size-2 rounded-sm" style={{ background: color }} />
      {label}
    </span>
  );
}
