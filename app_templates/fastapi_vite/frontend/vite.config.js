import { defineConfig } from "vite";

// MGX serves the app under /apps/<slug>/dev/ without stripping the prefix: assets, the HMR
// websocket (Vite puts it at `base`) and the backend routes all live under it.
const base = (process.env.MGX_BASE_PATH || "").replace(/\/?$/, "/");
const backend = { target: "http://127.0.0.1:8000", changeOrigin: false };

export default defineConfig({
  base,
  esbuild: { jsx: "automatic" },
  // "spa": any other page path under the base (e.g. `account`) gets index.html, like production.
  appType: "spa",
  server: {
    // Requests arrive through MGX's gateway with MGX's host name.
    allowedHosts: true,
    // The backend serves `api/` and the login routes `auth/` (the production server proxies the same two).
    proxy: { [`${base}api/`]: backend, [`${base}auth/`]: backend },
  },
});
