#!/usr/bin/env node
// Lint: a folder of src/ is used only through its index.ts. An import that
// leaves its top-level folder must name that folder's index.ts; the one
// exception is the generated protobuf code under src/api/gen/, which is a
// shared set of message definitions. Prints each violation; exit 1 if any.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = resolve(fileURLToPath(new URL("../src", import.meta.url)));
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".ts")) files.push(p);
  }
})(SRC);

const topOf = (p) => relative(SRC, p).split(sep)[0];
const bad = [];
for (const file of files) {
  if (relative(SRC, file).startsWith(`api${sep}gen${sep}`)) continue;
  const text = readFileSync(file, "utf8");
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g),
    ...text.matchAll(/\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g),
  ];
  for (const m of specs) {
    const target = resolve(dirname(file), m[1]);
    const folder = topOf(target);
    if (folder === topOf(file)) continue;
    const rel = relative(join(SRC, folder), target);
    if (rel === "index.ts" || rel.startsWith(`gen${sep}`)) continue;
    bad.push(`${relative(process.cwd(), file)}: imports ${m[1]} (use ../${folder}/index.ts)`);
  }
}
for (const b of bad) console.log(b);
if (bad.length > 0) {
  console.log(`${bad.length} import(s) reach into another folder past its index.ts`);
  process.exitCode = 1;
}
