// Everything the app reads from its environment, in one place. MGX hands these to the app's
// containers (dev and prod); see README.md for the list.
import { createHash } from "node:crypto";

/** The base path MGX serves the app under (`/apps/<slug>/dev` or `/apps/<slug>/prod`), no
 * trailing slash. Next.js bakes it in at build time (next.config.mjs inlines it), so routes
 * and pages always agree with the router. */
export function basePath(env = process.env) {
  return (env.MGX_BASE_PATH || "").replace(/\/+$/, "");
}

/** Cookies are scoped to the app's own base path: the dev and prod stages of the same app,
 * and other apps on the same origin, never see them. */
export function cookiePath(env = process.env) {
  return basePath(env) || "/";
}

const OAUTH_VARS = [
  "MGX_APPS_URL",
  "MGX_OAUTH_CLIENT_ID",
  "MGX_OAUTH_CLIENT_SECRET",
  "MGX_OAUTH_ISSUER",
  "MGX_OAUTH_AUTHORIZE_URL",
  "MGX_OAUTH_TOKEN_URL",
  "MGX_OAUTH_JWKS_URL",
];

/**
 * Login settings. `missing` lists the variables that are not set (names only): when it is not
 * empty, login answers "not configured" and the rest of the app keeps working.
 * @param {Record<string, string | undefined>} [env]
 */
export function oauthConfig(env = process.env) {
  const missing = OAUTH_VARS.filter((name) => !env[name]);
  const base = basePath(env);
  const appsUrl = (env.MGX_APPS_URL || "").replace(/\/+$/, "");
  return {
    missing,
    basePath: base,
    clientId: env.MGX_OAUTH_CLIENT_ID || "",
    clientSecret: env.MGX_OAUTH_CLIENT_SECRET || "",
    issuer: env.MGX_OAUTH_ISSUER || "",
    authorizeUrl: env.MGX_OAUTH_AUTHORIZE_URL || "",
    tokenUrl: env.MGX_OAUTH_TOKEN_URL || "",
    jwksUrl: env.MGX_OAUTH_JWKS_URL || "",
    userinfoUrl: env.MGX_OAUTH_USERINFO_URL || "",
    logoutUrl: env.MGX_OAUTH_LOGOUT_URL || "",
    // The browser comes back here, so it is built from the public apps origin.
    redirectUri: `${appsUrl}${base}/auth/callback`,
    secureCookies: appsUrl.startsWith("https://"),
  };
}

/** The key that signs the app's cookies: MGX_SESSION_SECRET, or one derived from the client
 * secret when MGX gave none. `null` when neither is set (nobody can be logged in then). */
export function sessionSecret(env = process.env) {
  if (env.MGX_SESSION_SECRET) return env.MGX_SESSION_SECRET;
  if (env.MGX_OAUTH_CLIENT_SECRET) {
    return createHash("sha256").update(`mgx-app-session:${env.MGX_OAUTH_CLIENT_SECRET}`).digest("base64url");
  }
  return null;
}

export function appName(env = process.env) {
  return env.MGX_APP_NAME || "__APP_NAME__";
}
