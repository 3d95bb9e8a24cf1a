// The frontend's own checks: `npm test` (Node's built-in test runner). The agent team's QA
// runs this; add a test file next to this one for each piece of logic you write.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

test("assets, the API and the login routes are served under the base path MGX gives the app", async () => {
  const config = await readFile(new URL("../vite.config.js", import.meta.url), "utf8");
  assert.match(config, /process\.env\.MGX_BASE_PATH/);
  assert.match(config, /\$\{base\}api/);
  assert.match(config, /\$\{base\}auth/);
});
