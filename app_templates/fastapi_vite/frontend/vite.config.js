import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { mgxPreview, mgxSourceMarks } from "./mgx-dev/vite-plugin.js";
import { loginRedirectFor } from "./server.mjs";

// MGX serves the app under /apps/<slug>/dev/ without stripping the prefix: assets, the HMR
// websocket (Vite puts it at `base`) and the backend routes all live under it.
const base = (process.env.MGX_BASE_PATH || "").replace(/\/?$/, "/");
const backend = { target: "http://127.0.0.1:8000", changeOrigin: false };

// Protected pages (src/routes.js) get the same 302 to the login as in production.
const protectedPages = {
  name: "mgx-protected-pages",
  configureServer(server) {
    server.middlewares.use((req, res, next) => {
      loginRedirectFor(req, { base: base.slice(0, -1), backend: backend.target }).then((login) => {
        if (!login) return next();
        res.writeHead(302, { Location: login, "Cache-Control": "no-store" }).end();
      }, next);
    });
  },
};

export default defineConfig(({ command }) => ({
  base,
  // React Fast Refresh: an edit replaces the component in the open page and keeps its state.
  // The plugin also compiles JSX (the automatic runtime: no `import React` needed). When serving,
  // MGX's preview script and source marks come along (mgx-dev/: dev only, keep them).
  plugins: [react(command === "serve" ? { babel: { plugins: [mgxSourceMarks] } } : {}), mgxPreview(), protectedPages],
  // "spa": any other page path under the base (e.g. `account`) gets index.html, like production.
  appType: "spa",
  server: {
    // Requests arrive through MGX's gateway with MGX's host name.
    allowedHosts: true,
    // The backend serves `api/` and the login routes `auth/` (the production server proxies the same two).
    proxy: { [`${base}api/`]: backend, [`${base}auth/`]: backend },
  },
}));
