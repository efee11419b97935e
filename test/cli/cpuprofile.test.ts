// `floe bench cpuprofile`: self time is grouped per floe module whether the
// member ran the TypeScript sources (src/, through tsx) or the compiled code
// (dist/), and packages that ship their own dist/ or src/ count as packages.
import assert from "node:assert/strict";
import { test } from "node:test";
import { summarizeProfile } from "../../src/cli/bench-cpuprofile.ts";

test("summarizeProfile groups src/ and dist/ frames by floe module and node_modules frames by package", () => {
  const frames = [
    "file:///home/me/src/floe/dist/raft/raft.js",
    "file:///home/me/dist/floe/src/raft/log.ts",
    "file:///home/me/src/floe/dist/wal/wal.js",
    "file:///home/me/src/floe/node_modules/@connectrpc/connect-node/dist/esm/index.js",
    "file:///home/me/src/floe/node_modules/pino/src/pino.js",
  ];
  const nodes = frames.map((url, i) => ({
    id: i + 1,
    callFrame: { functionName: `f${i}`, url, lineNumber: 0 },
  }));
  // 1 ms in each frame: sample i lasts timeDeltas[i + 1], so a trailing sample closes the last one
  const samples = [...nodes.map((n) => n.id), 1];
  const timeDeltas = samples.map(() => 1000);
  const s = summarizeProfile({ nodes, startTime: 0, endTime: 6000, samples, timeDeltas });
  const groups = Object.fromEntries(s.groups.map((g) => [g.name, g.selfMs]));
  assert.deepEqual(groups, {
    "floe raft/": 2,
    "floe wal/": 1,
    "npm @connectrpc/connect-node": 1,
    "npm pino": 1,
  });
  assert.ok(s.top.some((r) => r.name === "f0 dist/raft/raft.js:1"));
  assert.ok(s.top.some((r) => r.name === "f1 src/raft/log.ts:1"));
});
