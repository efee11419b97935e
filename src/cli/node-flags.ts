// The Node/V8 flags a member runs with: those on bin/floe.js's shebang line,
// which `npx floe` and a direct ./bin/floe.js apply. Whoever starts a member
// as `node bin/floe.js start ...` (floe dev) passes them itself.

import { readFileSync } from "node:fs";

/** The flags on `bin`'s `#!/usr/bin/env -S node ...` line (none if it has no such line). */
export function nodeFlagsOf(bin: string): string[] {
  const first = readFileSync(bin, "utf8").split("\n", 1)[0];
  const m = /^#!\S*env -S node((?: --\S+)*)\s*$/.exec(first);
  return m
    ? m[1]
        .trim()
        .split(/\s+/)
        .filter((f) => f !== "")
    : [];
}
