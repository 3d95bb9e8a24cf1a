// Builds the vendored CodeMirror 6 bundle for MGX.
//
//   cd infra/editor && npm ci && npm run build
//
// Output (both committed to the repo):
//   static/vendor/codemirror/mgx-editor.js   single minified IIFE, sets window.MGXEditor
//   static/vendor/codemirror/LICENSE.txt     MIT licence texts of every bundled package

import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync, existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, "../../static/vendor/codemirror");
const outFile = join(outDir, "mgx-editor.js");
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));

mkdirSync(outDir, { recursive: true });

const result = await build({
  entryPoints: [join(here, "src/index.js")],
  outfile: outFile,
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  legalComments: "none",
  charset: "utf8",
  metafile: true,
  logLevel: "warning",
  banner: {
    js:
      `/*! mgx-editor ${pkg.version} | CodeMirror 6 (codemirror ${pkg.dependencies.codemirror}, ` +
      `@codemirror/view ${pkg.dependencies["@codemirror/view"]}) | MIT, see LICENSE.txt | ` +
      `built from infra/editor */`,
  },
});

// Collect the npm packages that actually ended up in the bundle.
const bundled = new Map(); // name -> version
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (!m || bundled.has(m[1])) continue;
  const pkgDir = join(here, "node_modules", m[1]);
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
  bundled.set(m[1], version);
}

// LICENSE.txt: CodeMirror's MIT licence first, then every bundled package's
// licence text (identical texts are grouped).
const byText = new Map(); // licence text -> [name@version]
for (const [name, version] of [...bundled].sort(([a], [b]) => a.localeCompare(b))) {
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt"]
    .map((f) => join(here, "node_modules", name, f))
    .find((f) => existsSync(f));
  if (!file) throw new Error(`No licence file found for bundled package ${name}`);
  const text = readFileSync(file, "utf8").trim();
  if (!byText.has(text)) byText.set(text, []);
  byText.get(text).push(`${name}@${version}`);
}

const mainLicence = readFileSync(join(here, "node_modules/@codemirror/view/LICENSE"), "utf8").trim();
let licence =
  "static/vendor/codemirror/mgx-editor.js bundles CodeMirror 6 (https://codemirror.net/)\n" +
  "and its dependencies, all released under the MIT licence.\n\n" +
  "CodeMirror licence:\n\n" +
  mainLicence +
  "\n\n" +
  "=".repeat(78) +
  "\nLicence texts of every bundled package (grouped where identical):\n";
for (const [text, names] of byText) {
  licence += "\n" + "-".repeat(78) + "\n" + names.join("\n") + "\n\n" + text + "\n";
}
writeFileSync(join(outDir, "LICENSE.txt"), licence);

const size = statSync(outFile).size;
console.log(`wrote ${outFile} (${(size / 1024).toFixed(1)} KiB, ${bundled.size} packages)`);
console.log(`wrote ${join(outDir, "LICENSE.txt")}`);
