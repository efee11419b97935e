import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import { nodeFlagsOf } from "../../src/cli/node-flags.ts";

test("a member's V8 flags are read from bin/floe.js's shebang line", () => {
  const bin = fileURLToPath(new URL("../../bin/floe.js", import.meta.url));
  assert.deepEqual(nodeFlagsOf(bin), ["--min-semi-space-size=16", "--initial-old-space-size=256"]);
  const dir = mkdtempSync(join(tmpdir(), "floe-flags-"));
  try {
    const f = join(dir, "x.js");
    writeFileSync(f, "#!/usr/bin/env node\nconsole.log(1)\n");
    assert.deepEqual(nodeFlagsOf(f), []);
    writeFileSync(f, "#!/usr/bin/env -S node --a=1\n");
    assert.deepEqual(nodeFlagsOf(f), ["--a=1"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
