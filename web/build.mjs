// Builds web/dist: widget.js (one self-contained script, also as widget.<hash>.js for
// long caching), the demo page and its stylesheet, and the inbox (inbox/: React, one
// script, one stylesheet).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const dist = new URL("./dist/", import.meta.url);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: ["src/widget/main.ts"],
  outfile: "dist/widget.js",
  bundle: true,
  format: "iife",
  target: ["es2020"],
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
});
const widget = readFileSync(new URL("widget.js", dist));
const hash = createHash("sha256").update(widget).digest("hex").slice(0, 12);
writeFileSync(new URL(`widget.${hash}.js`, dist), widget);
writeFileSync(new URL("widget.version.json", dist), JSON.stringify({ file: `widget.${hash}.js` }) + "\n");

await build({
  entryPoints: ["src/inbox/main.tsx"],
  outfile: "dist/inbox/inbox.js",
  bundle: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
for (const f of ["index.html", "inbox.css"]) copyFileSync(new URL(`./inbox/${f}`, import.meta.url), new URL(`inbox/${f}`, dist));

copyFileSync(new URL("./demo/index.html", import.meta.url), new URL("index.html", dist));
for (const f of ["demo.css", "favicon.svg"]) copyFileSync(new URL(`./demo/${f}`, import.meta.url), new URL(f, dist));
console.log(`web/dist: widget.js (${widget.length} bytes, widget.${hash}.js), index.html, demo.css, favicon.svg, inbox/`);
