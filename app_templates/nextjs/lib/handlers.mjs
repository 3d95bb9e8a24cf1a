// The auth and API routes as plain functions from a web Request to a Response. The files under
// app/ only re-export them, so `npm test` runs exactly the code Next.js serves.
import { basePath, oauthConfig, sessionSecret } from "./config.mjs";
import { DatabaseUnavailable, saveUser as mongoSaveUser } from "./db.mjs";
import { log } from "./log.mjs";
import { errorPage, passwordFailedPage } from "./pages.mjs";
import {
  LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE,
  parseCookies, serializeCookie, sessionCookie, sessionFromRequest, sign, unsign,
} from "./session.mjs";
import { LoginError, NOT_CONFIGURED, authorizeLocation, completeCodeLogin, newLoginAttempt, passwordLogin, safeNext } from "./oidc.mjs";

// Relative Location headers (a path under the base path): correct whatever host name the
// request came in with (the gateway, a port on the host, inside the container).
function redirect(location, cookies = []) {
  const headers = new Headers({ location, "cache-control": "no-store" });
  for (const cookie of cookies) headers.append("set-cookie", cookie);
  return new Response(null, { status: 302, headers });
}

function notConfigured(cfg, env) {
  log.warn(`login refused: not configured (missing ${cfg.missing.join(", ")})`);
  return errorPage(503, `${NOT_CONFIGURED} (Missing: ${cfg.missing.join(", ")}.)`, env);
}

/** GET auth/login[?next=/apps/<slug>/dev/somewhere] */
export function login(request, { env = process.env } = {}) {
  const cfg = oauthConfig(env);
  if (cfg.missing.length) return notConfigured(cfg, env);
  const attempt = newLoginAttempt();
  const next = safeNext(new URL(request.url).searchParams.get("next"), cfg.basePath);
  const cookie = sign(sessionSecret(env), LOGIN_COOKIE, { state: attempt.state, nonce: attempt.nonce, verifier: attempt.verifier, next }, LOGIN_SECONDS);
  return redirect(authorizeLocation(cfg, attempt), [serializeCookie(LOGIN_COOKIE, cookie, { maxAge: LOGIN_SECONDS, secure: cfg.secureCookies, env })]);
}

async function finish(user, cfg, env, saveUser) {
  try {
    await saveUser(user);
  } catch (err) {
    log.error(`login of ${user.username}: the database is not reachable: ${err}`);
    if (err instanceof DatabaseUnavailable || /** @type {any} */ (err)?.name?.startsWith("Mongo")) {
      throw new LoginError(503, "The app's database is not reachable right now, so the login could not be recorded. Try again in a moment.");
    }
    throw err;
  }
  log.info(`login: ${user.username} (${user.sub})`);
  return sessionCookie(user, { secure: cfg.secureCookies, env });
}

/** GET auth/callback?code=…&state=… */
export async function callback(request, { env = process.env, saveUser = (user) => mongoSaveUser(user, env) } = {}) {
  const cfg = oauthConfig(env);
  if (cfg.missing.length) return notConfigured(cfg, env);
  const attempt = unsign(sessionSecret(env), LOGIN_COOKIE, parseCookies(request.headers.get("cookie"))[LOGIN_COOKIE]);
  const clearAttempt = serializeCookie(LOGIN_COOKIE, "", { maxAge: 0, secure: cfg.secureCookies, env });
  try {
    const { user, next } = await completeCodeLogin(cfg, new URL(request.url).searchParams, attempt);
    const session = await finish(user, cfg, env, saveUser);
    return redirect(next, [clearAttempt, session]);
  } catch (err) {
    if (!(err instanceof LoginError)) throw err;
    log.warn(`login refused (${err.status}): ${err.message} ${err.detail}`);
    const page = errorPage(err.status, err.message, env);
    page.headers.append("set-cookie", clearAttempt);
    return page;
  }
}

/** POST auth/password (form: username, password) */
export async function password(request, { env = process.env, saveUser = (user) => mongoSaveUser(user, env) } = {}) {
  const cfg = oauthConfig(env);
  if (cfg.missing.length) return notConfigured(cfg, env);
  let form;
  try {
    form = await request.formData();
  } catch {
    return passwordFailedPage(400, "Enter your username and password.", "", env);
  }
  const username = String(form.get("username") || "").trim();
  const secret = String(form.get("password") || "");
  if (!username || !secret) return passwordFailedPage(400, "Enter your username and password.", username, env);
  try {
    const user = await passwordLogin(cfg, username, secret);
    const session = await finish(user, cfg, env, saveUser);
    return redirect(`${cfg.basePath}/account`, [session]);
  } catch (err) {
    if (!(err instanceof LoginError)) throw err;
    log.warn(`password login of ${username} refused (${err.status}): ${err.message}`);
    return passwordFailedPage(err.status, err.message, username, env);
  }
}

/** GET or POST auth/logout */
export function logout(request, { env = process.env } = {}) {
  const cfg = oauthConfig(env);
  return redirect(`${basePath(env)}/`, [serializeCookie(SESSION_COOKIE, "", { maxAge: 0, secure: cfg.secureCookies, env })]);
}

/** GET api/me */
export function me(request, { env = process.env } = {}) {
  const user = sessionFromRequest(request, env);
  if (!user) return Response.json({ error: "not logged in" }, { status: 401, headers: { "cache-control": "no-store" } });
  return Response.json(user, { headers: { "cache-control": "no-store" } });
}

/** GET healthz */
export function healthz() {
  return Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });
}
