// Production server for the built frontend (no dependencies; Node's http module only).
// - serves dist/ under MGX_BASE_PATH (assets with long caching, index.html never cached);
// - any other page path under the base (e.g. `account`) gets index.html: the React app routes it;
// - proxies `<base>/api/` and `<base>/auth/` to the backend at BACKEND_URL, path unchanged
//   (the backend's root_path is the same base path).
// Env: MGX_BASE_PATH (same as at build time), BACKEND_URL (default http://127.0.0.1:8000),
// PORT (default 8080), DIST (default ./dist).
import http from "node:http";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { isProtected, loginUrl } from "./src/routes.js";

const BASE = (process.env.MGX_BASE_PATH || "").replace(/\/+$/, "");
const BACKEND = new URL(process.env.BACKEND_URL || "http://127.0.0.1:8000");
const PORT = Number(process.env.PORT || 8080);
const DIST = path.resolve(process.env.DIST || "dist");
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
  ".png": "image/png", ".jpg": "image/jpeg", ".ico": "image/x-icon", ".json": "application/json", ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8", ".webp": "image/webp", ".map": "application/json" };

function proxy(req, res) {
  const headers = { ...req.headers, "x-forwarded-for": req.socket.remoteAddress, "x-forwarded-host": req.headers.host || "" };
  const upstream = http.request({ host: BACKEND.hostname, port: BACKEND.port || 80, method: req.method, path: req.url, headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  upstream.on("error", () => {
    if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("The app's backend is not reachable.");
  });
  req.pipe(upstream);
}

// A direct request for a protected page: 302 to the login unless the backend knows the session.
// Shared with vite.config.js so dev and production answer the same.
export async function loginRedirectFor(req, { base, backend }) {
  const url = new URL(req.url, "http://local");
  if (!["GET", "HEAD"].includes(req.method) || !isProtected(url.pathname, base)) return null;
  try {
    const me = await fetch(`${backend}${base}/api/me`, { headers: { cookie: req.headers.cookie || "" } });
    if (me.status !== 401) return null;
  } catch {
    return null; // backend unreachable: the page shows its own state
  }
  return loginUrl(`${base}/`, url.pathname + url.search);
}

async function sendFile(res, file, method, cache) {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return false;
  res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] || "application/octet-stream", "Content-Length": info.size, "Cache-Control": cache });
  if (method === "HEAD") res.end(); else createReadStream(file).pipe(res);
  return true;
}

export function handler(req, res) {
  const url = new URL(req.url, "http://local");
  let pathname;
  try { pathname = decodeURIComponent(url.pathname); } catch { return res.writeHead(400).end("Bad request"); }
  if (pathname.startsWith(`${BASE}/api/`) || pathname.startsWith(`${BASE}/auth/`)) return proxy(req, res);
  if (pathname === BASE && BASE) return res.writeHead(302, { Location: `${BASE}/` }).end();
  if (!pathname.startsWith(`${BASE}/`) || !["GET", "HEAD"].includes(req.method)) {
    return res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("Not found");
  }
  const relative = pathname.slice(BASE.length + 1);
  const file = path.join(DIST, relative);
  if (!file.startsWith(DIST + path.sep) && file !== DIST) return res.writeHead(404).end();
  (async () => {
    const login = await loginRedirectFor(req, { base: BASE, backend: BACKEND.origin });
    if (login) return res.writeHead(302, { Location: login, "Cache-Control": "no-store" }).end();
    if (relative && (await sendFile(res, file, req.method, relative.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache"))) return;
    // A file that is missing (has an extension) is a 404; any other path is a page of the app.
    if (path.extname(relative)) return res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("Not found");
    if (!(await sendFile(res, path.join(DIST, "index.html"), req.method, "no-cache"))) res.writeHead(500).end("dist/index.html is missing: run `npm run build`.");
  })().catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = http.createServer(handler);
  server.listen(PORT, "0.0.0.0", () => console.log(`Serving ${DIST} at ${BASE}/ on :${server.address().port}; api/ and auth/ -> ${BACKEND.origin}`));
}
