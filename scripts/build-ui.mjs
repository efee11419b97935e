// Bundles the dashboard (ui/src, Preact and uPlot) into dist/ui: index.html,
// app.js and app.css, served by every member under /ui (src/api/ui.ts). No
// file is fetched from elsewhere at run time: the page works offline.
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

mkdirSync("dist/ui", { recursive: true });
await build({
  entryPoints: { app: "ui/src/main.tsx" },
  outdir: "dist/ui",
  bundle: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync("ui/index.html", "dist/ui/index.html");
