// Login with MGX (OpenID Connect): authorization code + PKCE (S256), and the password grant.
// Tokens come from MGX's token endpoint over its internal URL; the ID token is verified here,
// locally, against MGX's published keys (JWKS): signature (RS256), iss, aud, exp and nonce.
import { createHash, randomBytes } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";

/** A login that cannot go on; `message` is shown to the person as it is (no internals). */
export class LoginError extends Error {
  /** @param {number} status @param {string} message @param {string} [detail] for the log only */
  constructor(status, message, detail = "") {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

export const NOT_CONFIGURED = "Login with MGX is not configured for this app.";
export const STALE_LOGIN = "This login link is not valid any more. Start again.";

const random = () => randomBytes(32).toString("base64url");

/** State, nonce and the PKCE verifier for one login attempt. */
export function newLoginAttempt() {
  const verifier = random();
  return {
    state: random(),
    nonce: random(),
    verifier,
    challenge: createHash("sha256").update(verifier).digest("base64url"),
  };
}

/** `next` must stay inside this app (a path under its base path); anything else goes to the
 * account page. @param {string | null | undefined} next @param {string} base */
export function safeNext(next, base) {
  const fallback = `${base}/account`;
  if (!next || typeof next !== "string") return fallback;
  if (!next.startsWith("/") || next.startsWith("//") || next.includes("\\")) return fallback;
  if (base && next !== base && !next.startsWith(`${base}/`) && !next.startsWith(`${base}?`)) return fallback;
  return next;
}

/** Where auth/login sends the browser. */
export function authorizeLocation(cfg, attempt) {
  const url = new URL(cfg.authorizeUrl);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: cfg.clientId,
    redirect_uri: cfg.redirectUri,
    scope: "openid profile email",
    state: attempt.state,
    nonce: attempt.nonce,
    code_challenge: attempt.challenge,
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

/** POST to MGX's token endpoint with the client's credentials (HTTP Basic, RFC 6749 2.3.1).
 * @returns {Promise<Record<string, any>>} the token response
 * @param {any} cfg @param {Record<string, string>} form @param {string} refusedPrefix */
export async function tokenRequest(cfg, form, refusedPrefix) {
  const basic = Buffer.from(`${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`).toString("base64");
  let response;
  try {
    response = await fetch(cfg.tokenUrl, {
      method: "POST",
      headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(10000),
    });
  } catch (err) {
    throw new LoginError(503, "MGX could not be reached to finish the login. Try again in a moment.", String(err));
  }
  /** @type {Record<string, any>} */
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) {
    const reason = body.error_description || body.error || `status ${response.status}`;
    throw new LoginError(400, `${refusedPrefix}${reason}`, JSON.stringify(body));
  }
  if (!body.id_token && !body.access_token) throw new LoginError(400, `${refusedPrefix}no token in its answer`);
  return body;
}

const keySets = new Map();
function keySet(url) {
  // One cached key set per URL: keys are fetched once and again when an unknown `kid` shows up.
  if (!keySets.has(url)) keySets.set(url, createRemoteJWKSet(new URL(url), { timeoutDuration: 10000 }));
  return keySets.get(url);
}

/** Verify a JWT from MGX: RS256 signature against the JWKS, `iss` = the public issuer, `aud` =
 * this app's client id, `exp`; and `nonce` when one is expected.
 * @param {any} cfg @param {string} token @param {{nonce?: string}} [opts]
 * @returns {Promise<Record<string, any>>} the claims */
export async function verifyToken(cfg, token, { nonce } = {}) {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, keySet(cfg.jwksUrl), {
      issuer: cfg.issuer,
      audience: cfg.clientId,
      algorithms: ["RS256"],
      clockTolerance: 30,
    }));
  } catch (err) {
    const code = String(/** @type {any} */ (err).code || "");
    // Not a verdict on the token: the keys could not be fetched (network error, timeout, MGX
    // answering something other than a key set).
    if (!code.startsWith("ERR_J") || ["ERR_JWKS_TIMEOUT", "ERR_JOSE_GENERIC", "ERR_JWKS_INVALID"].includes(code)) {
      throw new LoginError(503, "MGX's signing keys could not be fetched. Try again in a moment.", String(err));
    }
    throw new LoginError(400, "The login could not be verified: MGX's token was not valid for this app.", `${code} ${err}`);
  }
  if (nonce !== undefined && payload.nonce !== nonce) {
    throw new LoginError(400, "The login could not be verified: MGX's token was not valid for this app.", "nonce mismatch");
  }
  if (typeof payload.sub !== "string" || !payload.sub) {
    throw new LoginError(400, "The login could not be verified: MGX's token names no user.", "no sub");
  }
  return payload;
}

/** What the app keeps about a person. */
export function userFromClaims(claims) {
  return {
    sub: String(claims.sub),
    username: String(claims.preferred_username || claims.username || claims.sub),
    email: String(claims.email || ""),
  };
}

/** auth/callback: check state against the login cookie, exchange the code (with the PKCE
 * verifier), verify the ID token. Returns the user and where to go next.
 * @param {any} cfg @param {URLSearchParams} query @param {Record<string, any> | null} attempt the unsigned login cookie */
export async function completeCodeLogin(cfg, query, attempt) {
  const state = query.get("state");
  if (!attempt || !state || state !== attempt.state) throw new LoginError(400, STALE_LOGIN, "state mismatch");
  const error = query.get("error");
  if (error) {
    const reason = query.get("error_description") || error;
    throw new LoginError(400, `MGX refused the login: ${reason}`, error);
  }
  const code = query.get("code");
  if (!code) throw new LoginError(400, STALE_LOGIN, "no code");
  const tokens = await tokenRequest(
    cfg,
    { grant_type: "authorization_code", code, redirect_uri: cfg.redirectUri, code_verifier: attempt.verifier },
    "MGX refused the login: ",
  );
  if (!tokens.id_token) throw new LoginError(400, "MGX refused the login: no ID token in its answer.");
  const claims = await verifyToken(cfg, tokens.id_token, { nonce: attempt.nonce });
  return { user: userFromClaims(claims), next: safeNext(attempt.next, cfg.basePath) };
}

/** auth/password: the password grant against this app's client. MGX answers with an access
 * token (a JWT signed with the same keys, `aud` = this client) and, when it gives one, an ID
 * token; whichever is there is verified the same way. The email comes from userinfo when the
 * token does not carry it. @param {any} cfg @param {string} username @param {string} password */
export async function passwordLogin(cfg, username, password) {
  const tokens = await tokenRequest(
    cfg,
    { grant_type: "password", username, password, scope: "openid profile email" },
    "",
  );
  const claims = await verifyToken(cfg, tokens.id_token || tokens.access_token);
  if (!claims.email && tokens.access_token && cfg.userinfoUrl) {
    try {
      const info = await fetch(cfg.userinfoUrl, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
        signal: AbortSignal.timeout(5000),
      });
      if (info.ok) {
        const extra = await info.json();
        if (extra.sub === claims.sub) Object.assign(claims, { email: extra.email, preferred_username: claims.preferred_username || extra.preferred_username });
      }
    } catch {
      // The email is a nicety; the verified token already says who this is.
    }
  }
  return userFromClaims(claims);
}
