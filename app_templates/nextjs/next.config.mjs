// MGX serves the app under /apps/<slug>/dev/ and /apps/<slug>/prod/ without stripping the prefix.
// Next.js bakes the base path in at build time: a production image is built for one stage
// (the Dockerfile takes MGX_BASE_PATH as a build argument).
const basePath = (process.env.MGX_BASE_PATH || "").replace(/\/+$/, "");

/** @type {import('next').NextConfig} */
const nextConfig = {
  basePath,
  output: "standalone",
  // Tracing what the standalone server needs parses every file it reaches, on every build: the
  // TypeScript compiler (next.config.mjs needs none at run time) and the AMP validator (no AMP
  // pages) are about a third of what it parses, and never run in production.
  outputFileTracingExcludes: {
    "*": ["node_modules/typescript/**", "node_modules/next/dist/compiled/amphtml-validator/**"],
  },
  // Code that reads process.env.MGX_BASE_PATH sees the value the router was built with.
  env: { MGX_BASE_PATH: basePath },
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

export default nextConfig;
