#!/usr/bin/env -S node --min-semi-space-size=16 --initial-old-space-size=256
// The `floe` command: runs the compiled JavaScript in dist/. `npm run build`
// compiles src/ into dist/ and bundles the CLI into dist/bundle/floe.mjs
// (scripts/bundle.mjs); `npm ci` and `npm install` build through the
// `prepare` script. (Development runs the TypeScript sources with tsx.)
//
// The V8 heap flags above are a member's runtime settings (see README,
// "Configuration"): the young generation at its full 16 MiB from the start,
// and no full collection before the old generation holds about 256 MiB. With
// V8's defaults a member with a small heap ran a full collection every second
// or two under load, each with some 15 ms of marking on its event loop.
// `floe dev` and the benchmarks, which start members as `node bin/floe.js`,
// read them from this line (src/cli/node-flags.ts, bench/cluster-lib.sh).
import { existsSync } from "node:fs";

const main = new URL("../dist/bundle/floe.mjs", import.meta.url);
if (existsSync(main)) {
  await import(main.href);
} else {
  process.stderr.write(
    "floe: dist/bundle/floe.mjs is missing: the TypeScript sources are not compiled yet.\n" +
      "Run `npm run build` in the floe directory (npm ci and npm install run it too).\n",
  );
  process.exitCode = 1;
}
