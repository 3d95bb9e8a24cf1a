import { defineConfig } from "vite";

// MGX serves the app under /apps/<slug>/dev/ without stripping the prefix: assets and HMR use it.
const base = (process.env.MGX_BASE_PATH || "").replace(/\/?$/, "/");

export default defineConfig({
  base,
  esbuild: { jsx: "automatic" },
  server: {
    // Requests arrive through MGX's gateway with MGX's host name.
    allowedHosts: true,
    proxy: { [`${base}api`]: { target: "http://127.0.0.1:8000", changeOrigin: false } },
  },
});
