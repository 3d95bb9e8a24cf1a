// The production server (server.mjs) run for real: static files, the SPA fallback for page
// paths, and the proxy of api/ and auth/ to a stand-in backend.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn } from "node:child_process";
import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const BASE = "/apps/demo/prod";
let dist, backend, server, origin;
const seen = [];

const listen = (srv) => new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve(srv.address().port)));

before(async () => {
  dist = await mkdtemp(path.join(tmpdir(), "dist-"));
  await mkdir(path.join(dist, "assets"));
  await writeFile(path.join(dist, "index.html"), "<title>Demo</title>");
  await writeFile(path.join(dist, "assets", "app.js"), "console.log(1)");
  backend = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url.endsWith("/api/me") && req.headers.cookie !== "mgx_app_session=good") {
      res.writeHead(401, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ error: "not logged in" }));
    }
    res.writeHead(200, { "Content-Type": "application/json", "Set-Cookie": "mgx_app_session=x; Path=/apps/demo/prod" });
    res.end(JSON.stringify({ path: req.url }));
  });
  const backendPort = await listen(backend);
  server = spawn(process.execPath, [new URL("../server.mjs", import.meta.url).pathname], {
    env: { ...process.env, MGX_BASE_PATH: BASE, BACKEND_URL: `http://127.0.0.1:${backendPort}`, PORT: "0", DIST: dist },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const banner = await new Promise((resolve) => server.stdout.once("data", (data) => resolve(String(data))));
  origin = `http://127.0.0.1:${banner.match(/on :(\d+)/)[1]}`;
});

after(async () => {
  server?.kill();
  backend?.close();
  await rm(dist, { recursive: true, force: true });
});

test("a protected page sends a visitor who is not logged in to the login, and back", async () => {
  const response = await fetch(`${origin}${BASE}/account?tab=2`, { redirect: "manual" });
  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), `${BASE}/auth/login?next=${encodeURIComponent(`${BASE}/account?tab=2`)}`);
});

test("the app's pages, including client routes like account, get index.html", async () => {
  for (const page of [`${BASE}/`, `${BASE}/account`]) {
    const response = await fetch(origin + page, { headers: { cookie: "mgx_app_session=good" } });
    assert.equal(response.status, 200, page);
    assert.equal(await response.text(), "<title>Demo</title>");
  }
  const asset = await fetch(`${origin}${BASE}/assets/app.js`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get("content-type"), /javascript/);
  assert.equal((await fetch(`${origin}${BASE}/assets/missing.js`)).status, 404);
  assert.equal((await fetch(`${origin}${BASE}/../../etc/passwd`)).status, 404);
  assert.equal((await fetch(`${origin}/elsewhere`)).status, 404);
});

test("api/ and auth/ reach the backend with the full path, cookies and redirects untouched", async () => {
  const me = await fetch(`${origin}${BASE}/api/me?x=1`);
  assert.deepEqual(await me.json(), { path: `${BASE}/api/me?x=1` });
  const login = await fetch(`${origin}${BASE}/auth/password`, { method: "POST", body: "username=a", headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  assert.equal(login.headers.get("set-cookie"), "mgx_app_session=x; Path=/apps/demo/prod");
  assert.ok(seen.includes(`POST ${BASE}/auth/password`));
});
