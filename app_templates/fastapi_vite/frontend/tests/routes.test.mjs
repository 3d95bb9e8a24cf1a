import { test } from "node:test";
import assert from "node:assert/strict";
import { isProtected, loginUrl, pageFor } from "../src/routes.js";

const BASE = "/apps/demo/dev/";

test("pages are found by their path under the base path", () => {
  assert.equal(pageFor("/apps/demo/dev/", BASE), "home");
  assert.equal(pageFor("/apps/demo/dev", BASE), "home");
  assert.equal(pageFor("/apps/demo/dev/account", BASE), "account");
  assert.equal(pageFor("/apps/demo/dev/account/", BASE), "account");
  assert.equal(pageFor("/apps/demo/dev/nope", BASE), "notfound");
  assert.equal(pageFor("/account", BASE), "notfound");
  assert.equal(pageFor("/account", "/"), "account");
});

test("a logged-out visitor of a protected page goes to the login and comes back", () => {
  assert.equal(loginUrl(BASE, "/apps/demo/dev/account?x=1"), "/apps/demo/dev/auth/login?next=%2Fapps%2Fdemo%2Fdev%2Faccount%3Fx%3D1");
});

test("account is a protected page, home is not", () => {
  assert.equal(isProtected("/apps/demo/dev/account", "/apps/demo/dev"), true);
  assert.equal(isProtected("/apps/demo/dev/account/", "/apps/demo/dev"), true);
  assert.equal(isProtected("/apps/demo/dev/", "/apps/demo/dev"), false);
  assert.equal(isProtected("/account", "/apps/demo/dev"), false);
});
