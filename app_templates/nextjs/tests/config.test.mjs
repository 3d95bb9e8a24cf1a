// The app's own checks: `npm test` (Node's built-in test runner). The agent team's QA runs
// this; add a test file next to this one for each piece of logic you write.
import { test } from "node:test";
import assert from "node:assert/strict";

test("the app serves under the base path MGX gives it", async () => {
  process.env.MGX_BASE_PATH = "/apps/__APP_SLUG__/dev";
  const { default: config } = await import(`../next.config.mjs?${Date.now()}`);
  assert.equal(config.basePath, "/apps/__APP_SLUG__/dev");
});
