// MGX's preview script (mgx-dev/) is in the dev server's page and never in a production build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, createServer } from "vite";

const root = fileURLToPath(new URL("..", import.meta.url));
const MARKS = ["__mgxPreview", "data-mgx-src", "mgx-dev/preview.js", "startPreview"];

test("the dev server's page loads MGX's preview script, with MGX's origin", async () => {
  process.env.MGX_PUBLIC_URL = "http://mgx.example:8000";
  const server = await createServer({ root, logLevel: "silent", server: { middlewareMode: true, hmr: false } });
  try {
    const html = await server.transformIndexHtml("/index.html", await readFile(path.join(root, "index.html"), "utf8"));
    const inline = html.match(/src="([^"]*html-proxy[^"]*)"/);
    assert.ok(inline, html);
    // The page names it under the dev server's base (/apps/<slug>/dev/ in MGX); the module graph without it.
    const url = inline[1].startsWith(server.config.base) ? "/" + inline[1].slice(server.config.base.length) : inline[1];
    const script = await server.transformRequest(url);
    assert.match(script.code, /startPreview\(\{"mgxOrigin":"http:\/\/mgx\.example:8000"/);
    const home = await server.transformRequest("/src/pages/Home.jsx");
    // Each element names where it is written, as a path in the workspace (frontend/src/...).
    assert.match(home.code, /"data-mgx-src": "[\w.-]+\/src\/pages\/Home\.jsx:\d+"/);
  } finally {
    await server.close();
  }
});

test("a production build carries none of it", async () => {
  const out = await mkdtemp(path.join(tmpdir(), "mgx-build-"));
  try {
    await build({ root, logLevel: "silent", build: { outDir: out, emptyOutDir: true } });
    const files = await readdir(out, { recursive: true });
    let text = "";
    for (const file of files) if (/\.(js|html)$/.test(file)) text += await readFile(path.join(out, file), "utf8");
    assert.match(text, /<div id="root">/); // it did build the app
    for (const mark of MARKS) assert.ok(!text.includes(mark), `${mark} is in the production build`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
