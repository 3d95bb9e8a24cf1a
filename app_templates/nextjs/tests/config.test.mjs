// The app's own checks: `npm test` (Node's built-in test runner). The agent team's QA runs
// this; add a test file next to this one for each piece of logic you write.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { PHASE_DEVELOPMENT_SERVER, PHASE_PRODUCTION_BUILD } from "next/constants.js";

async function configFor(phase) {
  const { default: config } = await import(`../next.config.mjs?${Date.now()}`);
  return config(phase);
}

test("the app serves under the base path MGX gives it", async () => {
  process.env.MGX_BASE_PATH = "/apps/__APP_SLUG__/dev";
  assert.equal((await configFor(PHASE_DEVELOPMENT_SERVER)).basePath, "/apps/__APP_SLUG__/dev");
  assert.equal((await configFor(PHASE_PRODUCTION_BUILD)).basePath, "/apps/__APP_SLUG__/dev");
});

test("MGX's preview script and source marks are for the dev server only, never a production build", async () => {
  process.env.MGX_PUBLIC_URL = "http://mgx.example:8000";
  const dev = await configFor(PHASE_DEVELOPMENT_SERVER);
  assert.equal(dev.env.MGX_PREVIEW_ORIGIN, "http://mgx.example:8000");
  assert.match(JSON.stringify(dev.turbopack.rules), /source-loader\.cjs/);
  const build = await configFor(PHASE_PRODUCTION_BUILD);
  assert.equal(build.env.MGX_PREVIEW_ORIGIN, undefined);
  assert.equal(build.turbopack, undefined);
  assert.equal(build.webpack, undefined);
  // The layout loads the script behind the one condition the production bundler folds to false.
  const layout = await readFile(new URL("../app/layout.tsx", import.meta.url), "utf8");
  assert.match(layout, /process\.env\.NODE_ENV === "development"\s*\?\s*require\("@\/lib\/mgx-dev\/preview-next"\)/);
  assert.doesNotMatch(layout, /^import .*mgx-dev/m);
});
