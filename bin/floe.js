#!/usr/bin/env node
// The `floe` command: runs the compiled JavaScript in dist/. `npm run build`
// compiles src/ into dist/ and bundles the CLI into dist/bundle/floe.mjs
// (scripts/bundle.mjs); `npm ci` and `npm install` build through the
// `prepare` script. (Development runs the TypeScript sources with tsx.)
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
