// A stand-in for MGX's OAuth endpoints, for the tests: a JWKS and a token endpoint on a local
// HTTP server, with a locally generated RSA key. Tokens it issues are real RS256 JWTs.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

export const CLIENT_ID = "app-client";
export const CLIENT_SECRET = "app-secret";
export const BASE = "/apps/__APP_SLUG__/dev";
export const ISSUER = "http://mgx.example/o";

export async function startProvider() {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const other = await generateKeyPair("RS256"); // a key MGX never published
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const codes = new Map(); // code -> { challenge, nonce, user }
  const provider = {
    tokenRequests: [],
    users: { alice: { password: "right-password", sub: "42", email: "alice@example.org" } },
    /** How the next ID token is made; tests change it to forge tokens. */
    idToken: async (claims) => sign(claims, privateKey, "k1"),
    sign: (claims, key = privateKey, kid = "k1") => sign(claims, key, kid),
    otherKey: other.privateKey,
    /** Registers a code as MGX's authorize endpoint would after the person logged in. */
    issueCode(authorizeLocation, username = "alice") {
      const query = new URL(authorizeLocation).searchParams;
      const code = `code-${codes.size + 1}`;
      codes.set(code, { challenge: query.get("code_challenge"), nonce: query.get("nonce"), username, redirect: query.get("redirect_uri") });
      return { code, state: query.get("state") };
    },
  };

  function claimsFor(username, extra = {}) {
    const user = provider.users[username];
    const now = Math.floor(Date.now() / 1000);
    return { iss: ISSUER, aud: CLIENT_ID, sub: user.sub, preferred_username: username, email: user.email, iat: now, exp: now + 300, ...extra };
  }

  const server = createServer(async (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === "/jwks") return send(200, { keys: [jwk] });
    if (req.url !== "/token" || req.method !== "POST") return send(404, {});
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const form = new URLSearchParams(raw);
    provider.tokenRequests.push(Object.fromEntries(form));
    const expected = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`;
    if (req.headers.authorization !== expected) return send(401, { error: "invalid_client" });
    if (form.get("grant_type") === "authorization_code") {
      const grant = codes.get(form.get("code"));
      codes.delete(form.get("code")); // one use only, as MGX does
      const verifier = form.get("code_verifier") || "";
      if (!grant || grant.redirect !== form.get("redirect_uri") || createHash("sha256").update(verifier).digest("base64url") !== grant.challenge) {
        return send(400, { error: "invalid_grant" });
      }
      return send(200, { access_token: "opaque", token_type: "Bearer", id_token: await provider.idToken(claimsFor(grant.username, { nonce: grant.nonce })) });
    }
    if (form.get("grant_type") === "password") {
      const user = provider.users[form.get("username")];
      if (!user || user.password !== form.get("password")) return send(400, { error: "invalid_grant", error_description: "Wrong username or password." });
      return send(200, { access_token: await provider.idToken(claimsFor(form.get("username"))), token_type: "Bearer" });
    }
    return send(400, { error: "unsupported_grant_type" });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${/** @type {any} */ (server.address()).port}`;
  provider.env = {
    MGX_BASE_PATH: BASE,
    MGX_APP_SLUG: "__APP_SLUG__",
    MGX_APPS_URL: "http://apps.example",
    MGX_OAUTH_CLIENT_ID: CLIENT_ID,
    MGX_OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    MGX_OAUTH_ISSUER: ISSUER,
    MGX_OAUTH_AUTHORIZE_URL: "http://mgx.example/o/authorize/",
    MGX_OAUTH_TOKEN_URL: `${origin}/token`,
    MGX_OAUTH_JWKS_URL: `${origin}/jwks`,
    MGX_SESSION_SECRET: "test-session-secret",
  };
  provider.close = () => new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections(); // kept-alive sockets would hold the test process open
  });
  return provider;
}

function sign(claims, key, kid) {
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid }).sign(key);
}

/** The Set-Cookie headers of a response, by cookie name: { name: {value, attributes} }. */
export function setCookies(response) {
  const out = {};
  // Node 18's Headers has no getSetCookie(): split the joined header (no cookie here has a comma).
  const lines = response.headers.getSetCookie?.() ?? (response.headers.get("set-cookie") || "").split(/,\s*(?=[A-Za-z0-9_]+=)/).filter(Boolean);
  for (const line of lines) {
    const [pair, ...attributes] = line.split(";").map((s) => s.trim());
    const eq = pair.indexOf("=");
    out[pair.slice(0, eq)] = { value: pair.slice(eq + 1), attributes };
  }
  return out;
}

export const get = (path, cookie = "") => new Request(`http://apps.example${path}`, { headers: cookie ? { cookie } : {} });
