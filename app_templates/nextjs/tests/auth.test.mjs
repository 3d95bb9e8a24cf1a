// Login with MGX, end to end against a local stand-in for MGX's token endpoint and JWKS:
// the same handlers the routes under app/ serve.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { callback, login, logout, me, password } from "../lib/handlers.mjs";
import { BASE, get, setCookies, startProvider } from "./helpers.mjs";

let provider;
let saved;
const saveUser = async (user) => saved.push(user);

before(async () => {
  provider = await startProvider();
});
after(() => provider.close());

async function startLogin(next = "") {
  saved = [];
  const response = login(get(`${BASE}/auth/login${next ? `?next=${encodeURIComponent(next)}` : ""}`), { env: provider.env });
  assert.equal(response.status, 302);
  const cookie = setCookies(response).mgx_app_login;
  return { location: response.headers.get("location"), cookie: `mgx_app_login=${cookie.value}`, attributes: cookie.attributes };
}

test("auth/login sends the browser to MGX with PKCE S256, state and nonce kept in a signed HttpOnly cookie", async () => {
  const { location, attributes } = await startLogin();
  const url = new URL(location);
  assert.equal(`${url.origin}${url.pathname}`, "http://mgx.example/o/authorize/");
  const q = url.searchParams;
  assert.equal(q.get("response_type"), "code");
  assert.equal(q.get("client_id"), "app-client");
  assert.equal(q.get("redirect_uri"), `http://apps.example${BASE}/auth/callback`);
  assert.equal(q.get("scope"), "openid profile email");
  assert.equal(q.get("code_challenge_method"), "S256");
  assert.ok(q.get("state") && q.get("nonce") && q.get("code_challenge"));
  assert.ok(attributes.includes("HttpOnly") && attributes.includes(`Path=${BASE}`) && attributes.includes("SameSite=Lax"));
});

test("the callback exchanges the code with the verifier, verifies the ID token and logs the person in", async () => {
  const { location, cookie } = await startLogin(`${BASE}/reports?x=1`);
  const { code, state } = provider.issueCode(location);

  const response = await callback(get(`${BASE}/auth/callback?code=${code}&state=${state}`, cookie), { env: provider.env, saveUser });

  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), `${BASE}/reports?x=1`);
  const exchange = provider.tokenRequests.at(-1);
  assert.equal(exchange.grant_type, "authorization_code");
  assert.equal(exchange.code, code);
  assert.ok(exchange.code_verifier);
  const cookies = setCookies(response);
  assert.ok(cookies.mgx_app_session.attributes.includes("HttpOnly") && cookies.mgx_app_session.attributes.includes(`Path=${BASE}`));
  assert.deepEqual(saved, [{ sub: "42", username: "alice", email: "alice@example.org" }]);

  const who = me(get(`${BASE}/api/me`, `mgx_app_session=${cookies.mgx_app_session.value}`), { env: provider.env });
  assert.equal(who.status, 200);
  assert.deepEqual(await who.json(), { sub: "42", username: "alice", email: "alice@example.org" });
});

test("a forged state is refused before any code is exchanged", async () => {
  const { location, cookie } = await startLogin();
  const { code } = provider.issueCode(location);
  const before = provider.tokenRequests.length;

  const forged = await callback(get(`${BASE}/auth/callback?code=${code}&state=forged`, cookie), { env: provider.env, saveUser });
  const noCookie = await callback(get(`${BASE}/auth/callback?code=${code}&state=forged`), { env: provider.env, saveUser });

  for (const response of [forged, noCookie]) {
    assert.equal(response.status, 400);
    assert.match(await response.text(), /This login link is not valid any more\. Start again\./);
    assert.equal(setCookies(response).mgx_app_session, undefined);
  }
  assert.equal(provider.tokenRequests.length, before);
  assert.deepEqual(saved, []);
});

test("a replayed code is refused by MGX and the page says so", async () => {
  const { location, cookie } = await startLogin();
  const { code, state } = provider.issueCode(location);
  const url = `${BASE}/auth/callback?code=${code}&state=${state}`;
  assert.equal((await callback(get(url, cookie), { env: provider.env, saveUser })).status, 302);

  const replay = await callback(get(url, cookie), { env: provider.env, saveUser });

  assert.equal(replay.status, 400);
  const body = await replay.text();
  assert.match(body, /MGX refused the login/);
  assert.doesNotMatch(body, /at .*\.mjs/); // no stack trace
});

for (const [what, forge] of [
  ["signed by another key", (p, claims) => p.sign(claims, p.otherKey)],
  ["for another client", (p, claims) => p.sign({ ...claims, aud: "someone-else" })],
  ["from another issuer", (p, claims) => p.sign({ ...claims, iss: "http://evil.example" })],
  ["expired", (p, claims) => p.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 })],
  ["with another nonce", (p, claims) => p.sign({ ...claims, nonce: "not-mine" })],
]) {
  test(`an ID token ${what} is refused`, async () => {
    const { location, cookie } = await startLogin();
    const { code, state } = provider.issueCode(location);
    const honest = provider.idToken;
    provider.idToken = (claims) => forge(provider, claims);
    try {
      const response = await callback(get(`${BASE}/auth/callback?code=${code}&state=${state}`, cookie), { env: provider.env, saveUser });
      assert.equal(response.status, 400);
      assert.match(await response.text(), /MGX&#39;s token was not valid for this app/);
      assert.equal(setCookies(response).mgx_app_session, undefined);
      assert.deepEqual(saved, []);
    } finally {
      provider.idToken = honest;
    }
  });
}

test("the password form logs in with the password grant; wrong credentials show MGX's message", async () => {
  saved = [];
  const form = (username, pw) =>
    new Request(`http://apps.example${BASE}/auth/password`, { method: "POST", body: new URLSearchParams({ username, password: pw }) });

  const wrong = await password(form("alice", "nope"), { env: provider.env, saveUser });
  assert.equal(wrong.status, 400);
  const page = await wrong.text();
  assert.match(page, /Wrong username or password\./);
  assert.match(page, new RegExp(`action="${BASE}/auth/password"`));
  assert.equal(setCookies(wrong).mgx_app_session, undefined);

  const right = await password(form("alice", "right-password"), { env: provider.env, saveUser });
  assert.equal(right.status, 302);
  assert.equal(right.headers.get("location"), `${BASE}/account`);
  assert.ok(setCookies(right).mgx_app_session.value);
  assert.deepEqual(saved, [{ sub: "42", username: "alice", email: "alice@example.org" }]);
});

test("a tampered session cookie counts as logged out; logout clears the cookie", async () => {
  const { location, cookie } = await startLogin();
  const { code, state } = provider.issueCode(location);
  const ok = await callback(get(`${BASE}/auth/callback?code=${code}&state=${state}`, cookie), { env: provider.env, saveUser });
  const value = setCookies(ok).mgx_app_session.value;
  const [body, mac] = value.split(".");
  const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), sub: "1" })).toString("base64url");

  const answer = me(get(`${BASE}/api/me`, `mgx_app_session=${tampered}.${mac}`), { env: provider.env });
  assert.equal(answer.status, 401);
  assert.deepEqual(await answer.json(), { error: "not logged in" });

  const out = logout(get(`${BASE}/auth/logout`, `mgx_app_session=${value}`), { env: provider.env });
  assert.equal(out.status, 302);
  assert.equal(out.headers.get("location"), `${BASE}/`);
  assert.ok(setCookies(out).mgx_app_session.attributes.includes("Max-Age=0"));
});

test("next must stay inside the app", async () => {
  for (const next of ["https://evil.example/", "//evil.example/x", "/apps/other/dev/", "/\\evil.example"]) {
    const { location, cookie } = await startLogin(next);
    const { code, state } = provider.issueCode(location);
    const response = await callback(get(`${BASE}/auth/callback?code=${code}&state=${state}`, cookie), { env: provider.env, saveUser });
    assert.equal(response.headers.get("location"), `${BASE}/account`, next);
  }
});

test("without MGX's OAuth settings, login answers a clear 503 page and nothing crashes", async () => {
  const env = { MGX_BASE_PATH: BASE };
  for (const response of [login(get(`${BASE}/auth/login`), { env }), await callback(get(`${BASE}/auth/callback?code=x&state=y`), { env })]) {
    assert.equal(response.status, 503);
    assert.match(await response.text(), /Login with MGX is not configured for this app/);
  }
  assert.equal(me(get(`${BASE}/api/me`), { env }).status, 401);
});

test("an unreachable database fails the login with a clear 503 page", async () => {
  const { location, cookie } = await startLogin();
  const { code, state } = provider.issueCode(location);
  const env = { ...provider.env, MONGODB_URL: "mongodb://127.0.0.1:9/", MONGODB_DB: "app_nowhere" };
  const response = await callback(get(`${BASE}/auth/callback?code=${code}&state=${state}`, cookie), { env });
  assert.equal(response.status, 503);
  assert.match(await response.text(), /database is not reachable/);
  assert.equal(setCookies(response).mgx_app_session, undefined);
});
