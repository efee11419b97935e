#!/usr/bin/env node
// Completes package-lock.json after `npm install` on machines whose registry
// mirror serves only this platform's prebuilt binaries: npm then leaves the
// other platforms' optional packages (e.g. @biomejs/cli-darwin-arm64) out of
// the lock, and `npm ci` refuses the lock as out of sync. This adds an
// optional, version-only entry for each missing one; `npm ci` skips optional
// packages it cannot or need not install, so installs stay exactly the same.
//
// Usage: node scripts/complete-lock.mjs   (after any `npm install` that changed the lock)
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const pkgs = lock.packages;
let added = 0;
for (const [where, info] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(info.optionalDependencies ?? {})) {
    const nested = `${where === "" ? "" : `${where}/`}node_modules/${dep}`;
    const top = `node_modules/${dep}`;
    if (pkgs[nested] || pkgs[top]) continue;
    pkgs[top] = { version, optional: true };
    added++;
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} optional platform entries`);
