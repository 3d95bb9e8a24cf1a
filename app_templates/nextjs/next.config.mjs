// MGX serves the app under /apps/<slug>/dev/ and /apps/<slug>/prod/ without stripping the prefix.
const basePath = (process.env.MGX_BASE_PATH || "").replace(/\/$/, "");

/** @type {import('next').NextConfig} */
const nextConfig = { basePath, output: "standalone" };

export default nextConfig;
