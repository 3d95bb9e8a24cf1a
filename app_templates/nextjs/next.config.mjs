// MGX serves the app under /apps/<slug>/dev/ and /apps/<slug>/prod/ without stripping the prefix.
// Next.js bakes the base path in at build time: a production image is built for one stage
// (the Dockerfile takes MGX_BASE_PATH as a build argument).
import { createRequire } from "node:module";
import { PHASE_DEVELOPMENT_SERVER } from "next/constants.js";

const require = createRequire(import.meta.url);
const basePath = (process.env.MGX_BASE_PATH || "").replace(/\/+$/, "");

// Only for `next dev`, never in a build: MGX's preview script (lib/mgx-dev/) learns MGX's origin,
// and each HTML element in the app's own .tsx files carries the file and line it is written in
// (data-mgx-src), which MGX's Select names to the team. Keep these.
const dev = {
  env: { MGX_PREVIEW_ORIGIN: process.env.MGX_PUBLIC_URL || "" },
  turbopack: {
    rules: {
      "*.tsx": { foreign: false, default: { loaders: [require.resolve("./lib/mgx-dev/source-loader.cjs")] } },
    },
  },
};

/** @type {(phase: string) => import('next').NextConfig} */
export default function nextConfig(phase) {
  const development = phase === PHASE_DEVELOPMENT_SERVER;
  return {
    basePath,
    output: "standalone",
    // Tracing what the standalone server needs parses every file it reaches in node_modules, on
    // every build: 20-25 s of a rebuild. The production image installs the app's runtime
    // dependencies in a step of its own instead (see Dockerfile: reused while package-lock.json
    // is unchanged), so the trace stops at the app's own code.
    outputFileTracingExcludes: { "*": ["node_modules/**"] },
    // The compilers run in this process rather than in a fresh worker each: a few seconds less
    // per build on a small machine.
    experimental: { webpackBuildWorker: false },
    // Code that reads process.env.MGX_BASE_PATH sees the value the router was built with.
    env: { MGX_BASE_PATH: basePath, ...(development ? dev.env : {}) },
    ...(development ? { turbopack: dev.turbopack } : {}),
    // Loaded from node_modules at run time instead of being bundled: less to compile on the
    // first request in dev, and the drivers keep their native lookups.
    serverExternalPackages: [
      "mongodb",
      "jose",
      "@opentelemetry/api-logs",
      "@opentelemetry/exporter-logs-otlp-proto",
      "@opentelemetry/exporter-trace-otlp-proto",
      "@opentelemetry/resources",
      "@opentelemetry/sdk-logs",
      "@opentelemetry/sdk-trace-node",
    ],
  };
}
