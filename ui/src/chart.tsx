// A time-series chart: uPlot, one line per member, created once and fed new
// data on every sample (uPlot redraws only what setData changes).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

const COLORS = ["#2f7ed8", "#e4572e", "#29a36a", "#a05ad6", "#d6a21e", "#1ab0c6", "#c44e85"];

export interface ChartProps {
  title: string;
  unit: string;
  /** One label per series (member names). */
  labels: string[];
  /** [times in seconds, ...one array per series]; null is a gap. */
  data: (number | null)[][];
}

export function Chart({ title, unit, labels, data }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = labels.join("\u0000");

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const opts: uPlot.Options = {
      title,
      width: Math.max(280, el.clientWidth),
      height: 170,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((t) => `${fmt(t)}${unit}`) }],
      series: [
        {},
        ...labels.map((label, i) => ({
          label,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? "–" : `${fmt(v)}${unit}`),
        })),
      ],
    };
    const p = new uPlot(opts, data as uPlot.AlignedData, el);
    plot.current = p;
    const resize = new ResizeObserver(() => p.setSize({ width: Math.max(280, el.clientWidth), height: 170 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      p.destroy();
      plot.current = null;
    };
    // rebuilt only when the series change; data flows through setData below
  }, [shape, title, unit]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return <div class="chart" ref={box} />;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || v === Math.round(v)) return String(Math.round(v));
  return v.toFixed(a >= 10 ? 1 : 2);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}
