// `floe bench cpuprofile <file.cpuprofile>`: where a member's CPU time went,
// from a profile written by `node --cpu-prof`: the top functions by self
// time, and self time grouped by floe module, node internals and packages.

import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * A short place for a script url: the path from node_modules/, or from floe's
 * src/ (sources run through tsx) or dist/ (the compiled code `floe` runs), or
 * node's internal name. Packages are matched first: many ship a dist/ or src/.
 */
function place(url: string): string {
  if (url === "") return "";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + "/node_modules/".length);
  const own = Math.max(url.lastIndexOf("/src/"), url.lastIndexOf("/dist/"));
  if (own >= 0) return url.slice(own + 1);
  return url.replace(/^file:\/\//, "");
}

/** The group a function's self time counts under. */
function group(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const p = place(url);
  const m = /^(?:src|dist)\/([^/]+)\//.exec(p);
  if (m) return `floe ${m[1]}/`;
  if (p.startsWith("node:")) {
    const parts = p.split("/");
    return parts[0] === "node:internal" ? `node:internal/${parts[1] ?? ""}` : parts[0];
  }
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)\//.exec(p);
  return pkg ? `npm ${pkg[1]}` : p;
}

export interface ProfileSummary {
  totalMs: number;
  top: Array<{ name: string; selfMs: number; pct: number }>;
  groups: Array<{ name: string; selfMs: number; pct: number }>;
}

/** `skipMs`: leave out the samples of the first milliseconds (start-up, module compilation). */
export function summarizeProfile(p: CpuProfile, topN = 25, skipMs = 0): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const from = p.startTime + skipMs * 1000;
  let at = p.startTime;
  // sample i lasts until sample i + 1 (as Chrome DevTools reads timeDeltas)
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at < from) continue;
    const us = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + us);
  }
  const fn = new Map<string, number>();
  const grp = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = url
      ? `${functionName || "(anonymous)"} ${place(url)}:${lineNumber + 1}`
      : functionName || "(anonymous)";
    fn.set(name, (fn.get(name) ?? 0) + us);
    const g = group(n);
    grp.set(g, (grp.get(g) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({
        name,
        selfMs: Math.round(us / 100) / 10,
        pct: Math.round((us / total) * 1000) / 10,
      }));
  return { totalMs: Math.round(total / 1000), top: rows(fn, topN), groups: rows(grp, 30) };
}

export function formatProfile(s: ProfileSummary, file: string): string {
  const line = (r: { name: string; selfMs: number; pct: number }) =>
    `${r.pct.toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.name}`;
  return [
    `${file}: ${s.totalMs} ms sampled`,
    "",
    "self time by group:",
    ...s.groups.map(line),
    "",
    `top ${s.top.length} functions by self time:`,
    ...s.top.map(line),
  ].join("\n");
}

export function runCpuProfile(files: string[], o: { top: string; skipMs: string; json?: boolean }): void {
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, "utf8")) as CpuProfile;
    const s = summarizeProfile(p, Number(o.top), Number(o.skipMs));
    process.stdout.write(o.json ? `${JSON.stringify({ file: f, ...s })}\n` : `${formatProfile(s, f)}\n`);
  }
}
