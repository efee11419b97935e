/**
 * timeline.html: one self-contained page (inline SVG and CSS, no scripts or
 * external assets) with each worker's operations as bars coloured by
 * outcome over the partition periods, latency quantiles over time, and the
 * operation rate over time.
 */
import { describeInput, describeResult } from "./history.ts";
import { quantiles } from "./stats.ts";
import type { Misbehaviour, OpRecord, Outcome, PartitionPeriod } from "./types.ts";

export interface TimelineInput {
  title: string;
  valid: boolean;
  failure: string | undefined;
  summary: [string, string][];
  history: OpRecord[];
  partitions: PartitionPeriod[];
  workers: { index: number; node: string }[];
  durationMs: number;
  violationText: string | undefined;
  misbehaviours: Misbehaviour[];
}

const COLORS: Record<Outcome, string> = { ok: "#4caf50", fail: "#e57373", info: "#ffb300" };
const PARTITION_FILL = "#E9DCA0";
const QUANTILE_COLORS: Record<string, string> = {
  p50: "#1e88e5",
  p95: "#8e24aa",
  p99: "#d81b60",
  max: "#444",
};
const LEFT = 80;
const PLOT_W = 1100;
const RIGHT = 20;
const MAX_SCATTER_POINTS = 10_000;

export function renderTimeline(t: TimelineInput): string {
  const spanMs = Math.max(1, t.durationMs);
  const x = (ms: number) => LEFT + (Math.min(Math.max(ms, 0), spanMs) / spanMs) * PLOT_W;
  const rows = t.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
  const verdict = t.valid
    ? `<p class="verdict ok">Valid: everything looks good</p>`
    : `<p class="verdict bad">Invalid: ${esc(t.failure ?? "")}</p>`;
  const misbehaviour =
    t.misbehaviours.length === 0
      ? ""
      : `<h2>Protocol violations</h2><ul>${t.misbehaviours
          .map(
            (m) =>
              `<li>${(m.time / 1000).toFixed(3)} s: ${esc(m.problem)}${m.line === undefined ? "" : `<pre>${esc(m.line)}</pre>`}</li>`,
          )
          .join("")}</ul>`;
  const violation = t.violationText
    ? `<h2>Linearizability violation</h2><pre>${esc(t.violationText)}</pre>`
    : "";
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(t.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:20px;color:#222}
table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px 2px 0;font-size:13px}
.verdict{font-weight:bold;font-size:18px}.ok{color:#2e7d32}.bad{color:#c62828}
pre{background:#f5f5f5;padding:8px;overflow-x:auto;font-size:12px}
svg{display:block;margin:8px 0 24px}svg text{font-size:11px;fill:#333}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
</style></head><body>
<h1>${esc(t.title)}</h1>
${verdict}
<table>${rows}</table>
${misbehaviour}${violation}
<h2>Operations by worker</h2>
<div class="legend">${legend([
    ["ok", COLORS.ok],
    ["fail (no effect)", COLORS.fail],
    ["info (unknown outcome)", COLORS.info],
    ["partition", PARTITION_FILL],
  ])}</div>
${operationsSvg(t, x)}
<h2>Latency of completed operations (log scale), with quantiles of successful ones</h2>
<div class="legend">${legend(Object.entries(QUANTILE_COLORS))}</div>
${latencySvg(t, x, spanMs)}
<h2>Operation rate by outcome</h2>
${rateSvg(t, x, spanMs)}
</body></html>
`;
}

type XScale = (ms: number) => number;

function operationsSvg(t: TimelineInput, x: XScale): string {
  const rowH = t.workers.length > 60 ? 6 : t.workers.length > 30 ? 10 : 16;
  const top = 10;
  const height = top + t.workers.length * rowH + 30;
  const parts: string[] = [partitionRects(t.partitions, x, top, t.workers.length * rowH, t.durationMs)];
  for (const w of t.workers) {
    const y = top + w.index * rowH;
    if (rowH >= 10) {
      parts.push(
        `<text x="${LEFT - 6}" y="${y + rowH * 0.75}" text-anchor="end">w${w.index} ${esc(w.node)}</text>`,
      );
    }
    parts.push(`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${y + rowH}" y2="${y + rowH}" stroke="#eee"/>`);
  }
  for (const op of t.history) {
    const end = op.ret ?? t.durationMs;
    const x0 = x(op.call);
    const width = Math.max(1.5, x(end) - x0);
    const y = top + op.worker * rowH + 1;
    const latency = op.ret === undefined ? "" : ` (${(op.ret - op.call).toFixed(1)} ms)`;
    const title = `${op.client}@${op.node} ${describeInput(op.input)} ${describeResult(op)}${latency}, called at ${(op.call / 1000).toFixed(3)} s${op.final ? ", final read" : ""}`;
    const stroke = op.final ? ` stroke="#333" stroke-dasharray="2,1"` : "";
    parts.push(
      `<rect x="${f(x0)}" y="${y}" width="${f(width)}" height="${rowH - 2}" fill="${COLORS[op.outcome ?? "info"]}"${stroke}><title>${esc(title)}</title></rect>`,
    );
  }
  parts.push(timeAxis(x, top + t.workers.length * rowH, t.durationMs));
  return svg(height, parts);
}

function latencySvg(t: TimelineInput, x: XScale, spanMs: number): string {
  const top = 10;
  const h = 260;
  const done = t.history.filter((op) => op.ret !== undefined);
  const lat = (op: OpRecord) => Math.max(0.01, op.ret! - op.call);
  const maxLat = done.reduce((m, op) => Math.max(m, lat(op)), 1);
  const minLat = done.reduce((m, op) => Math.min(m, lat(op)), maxLat / 10);
  const lo = Math.log10(minLat);
  const hi = Math.log10(maxLat) + 0.05;
  const y = (ms: number) => top + h - ((Math.log10(Math.max(ms, minLat)) - lo) / (hi - lo)) * h;
  const parts: string[] = [partitionRects(t.partitions, x, top, h, t.durationMs)];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const ms = 10 ** e;
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${f(y(ms))}" y2="${f(y(ms))}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${f(y(ms) + 4)}" text-anchor="end">${ms >= 1 ? ms : ms.toFixed(2)} ms</text>`,
    );
  }
  // Every operation has its bar above; the scatter keeps an even sample so huge runs stay viewable.
  const every = Math.ceil(done.length / MAX_SCATTER_POINTS);
  for (const op of done.filter((_, i) => i % every === 0)) {
    parts.push(
      `<circle cx="${f(x(op.call))}" cy="${f(y(lat(op)))}" r="1.8" fill="${COLORS[op.outcome ?? "info"]}"/>`,
    );
  }
  // Wider buckets than the rate plot: a quantile needs a few samples to mean anything.
  const buckets = bucketize(t.history, spanMs, (op) => op.outcome === "ok" && op.ret !== undefined, 25);
  for (const [name, color] of Object.entries(QUANTILE_COLORS)) {
    const points = buckets
      .map((b) => {
        const q = quantiles(b.ops.map((op) => op.ret! - op.call));
        return q === undefined ? undefined : `${f(x(b.mid))},${f(y(q[name as keyof typeof q]))}`;
      })
      .filter((p) => p !== undefined);
    if (points.length > 0) {
      parts.push(`<polyline points="${points.join(" ")}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
  }
  parts.push(timeAxis(x, top + h, t.durationMs));
  return svg(top + h + 30, parts);
}

function rateSvg(t: TimelineInput, x: XScale, spanMs: number): string {
  const top = 10;
  const h = 180;
  const series = (["ok", "fail", "info"] as const).map((outcome) => ({
    outcome,
    buckets: bucketize(t.history, spanMs, (op) => (op.outcome ?? "info") === outcome),
  }));
  const rate = (b: Bucket) => b.ops.length / (b.widthMs / 1000);
  const maxRate = series.reduce((m, s) => s.buckets.reduce((mm, b) => Math.max(mm, rate(b)), m), 1);
  const y = (r: number) => top + h - (r / maxRate) * h;
  const parts: string[] = [partitionRects(t.partitions, x, top, h, t.durationMs)];
  for (const r of [0, maxRate / 2, maxRate]) {
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${f(y(r))}" y2="${f(y(r))}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${f(y(r) + 4)}" text-anchor="end">${r.toFixed(1)}/s</text>`,
    );
  }
  for (const s of series) {
    const points = s.buckets.map((b) => `${f(x(b.mid))},${f(y(rate(b)))}`);
    parts.push(
      `<polyline points="${points.join(" ")}" fill="none" stroke="${COLORS[s.outcome]}" stroke-width="2"/>`,
    );
  }
  parts.push(timeAxis(x, top + h, t.durationMs));
  return svg(top + h + 30, parts);
}

interface Bucket {
  mid: number;
  widthMs: number;
  ops: OpRecord[];
}

/** Operations by call time in about `count` buckets of a round width. */
function bucketize(
  history: OpRecord[],
  spanMs: number,
  keep: (op: OpRecord) => boolean,
  count = 50,
): Bucket[] {
  const widthMs = niceStep(spanMs / count);
  const n = Math.max(1, Math.ceil(spanMs / widthMs));
  const buckets: Bucket[] = Array.from({ length: n }, (_, i) => ({
    mid: (i + 0.5) * widthMs,
    widthMs,
    ops: [],
  }));
  for (const op of history) {
    if (keep(op)) buckets[Math.min(n - 1, Math.floor(op.call / widthMs))].ops.push(op);
  }
  return buckets;
}

function partitionRects(
  partitions: PartitionPeriod[],
  x: XScale,
  top: number,
  h: number,
  endMs: number,
): string {
  return partitions
    .map((p) => {
      const x0 = x(p.start);
      const w = Math.max(1, x(p.end ?? endMs) - x0);
      return `<rect x="${f(x0)}" y="${top}" width="${f(w)}" height="${h}" fill="${PARTITION_FILL}" opacity="0.6"><title>${esc(`partition ${p.kind}: ${p.description}`)}</title></rect>`;
    })
    .join("");
}

function timeAxis(x: XScale, y: number, spanMs: number): string {
  const step = niceStep(spanMs / 12);
  const parts = [`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${y}" y2="${y}" stroke="#999"/>`];
  for (let ms = 0; ms <= spanMs + 1e-9; ms += step) {
    const label =
      spanMs >= 2000 ? `${(ms / 1000).toFixed(step % 1000 === 0 ? 0 : 1)} s` : `${ms.toFixed(0)} ms`;
    parts.push(
      `<line x1="${f(x(ms))}" x2="${f(x(ms))}" y1="${y}" y2="${y + 4}" stroke="#999"/>`,
      `<text x="${f(x(ms))}" y="${y + 16}" text-anchor="middle">${label}</text>`,
    );
  }
  return parts.join("");
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
export function niceStep(raw: number): number {
  const r = Math.max(raw, 1e-3);
  const p = 10 ** Math.floor(Math.log10(r));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= r) ?? 10 * p;
}

function svg(height: number, parts: string[]): string {
  const w = LEFT + PLOT_W + RIGHT;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${height}" viewBox="0 0 ${w} ${height}">${parts.join("")}</svg>`;
}

function legend(entries: [string, string][]): string {
  return entries.map(([name, color]) => `<span style="background:${color}"></span>${esc(name)}`).join("");
}

function f(n: number): string {
  return n.toFixed(1);
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
