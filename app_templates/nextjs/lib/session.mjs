// Signed cookies: the app's session (`mgx_app_session`) and the short-lived login cookie that
// carries state, nonce and the PKCE verifier between auth/login and auth/callback.
// Format: base64url(JSON payload) "." base64url(HMAC-SHA256(secret, purpose "." payload)).
// The purpose is part of what is signed, so one cookie can never be replayed as the other.
import { createHmac, timingSafeEqual } from "node:crypto";
import { cookiePath, sessionSecret } from "./config.mjs";

export const SESSION_COOKIE = "mgx_app_session";
export const LOGIN_COOKIE = "mgx_app_login";
export const SESSION_SECONDS = 8 * 60 * 60;
export const LOGIN_SECONDS = 10 * 60;

function mac(secret, purpose, body) {
  return createHmac("sha256", secret).update(`${purpose}.${body}`).digest("base64url");
}

/** @param {string} secret @param {string} purpose @param {object} payload @param {number} seconds */
export function sign(secret, purpose, payload, seconds) {
  const body = Buffer.from(JSON.stringify({ ...payload, exp: Math.floor(Date.now() / 1000) + seconds })).toString("base64url");
  return `${body}.${mac(secret, purpose, body)}`;
}

/** The payload, or null when the value is missing, tampered with, signed for another purpose
 * or expired. @param {string | null} secret @param {string} purpose @param {string | undefined | null} value
 * @returns {Record<string, any> | null} */
export function unsign(secret, purpose, value) {
  if (!secret || !value || typeof value !== "string") return null;
  const dot = value.indexOf(".");
  if (dot < 1) return null;
  const body = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1));
  const expected = Buffer.from(mac(secret, purpose, body));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
    if (typeof payload.exp !== "number" || payload.exp < Date.now() / 1000) return null;
    return payload;
  } catch {
    return null;
  }
}

/** A Set-Cookie header value. maxAge 0 deletes the cookie. */
export function serializeCookie(name, value, { maxAge, secure = false, env = process.env }) {
  const parts = [`${name}=${value}`, `Path=${cookiePath(env)}`, `Max-Age=${maxAge}`, "HttpOnly", "SameSite=Lax"];
  if (secure) parts.push("Secure");
  return parts.join("; ");
}

/** @param {string | null} header the Cookie request header */
export function parseCookies(header) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const part of (header || "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** The logged-in user `{sub, username, email}` from the session cookie's value, or null.
 * @param {string | undefined | null} value
 * @returns {{sub: string, username: string, email: string} | null} */
export function readSession(value, env = process.env) {
  const payload = unsign(sessionSecret(env), SESSION_COOKIE, value);
  if (!payload || typeof payload.sub !== "string") return null;
  return { sub: payload.sub, username: payload.username || "", email: payload.email || "" };
}

/** @param {Request} request */
export function sessionFromRequest(request, env = process.env) {
  return readSession(parseCookies(request.headers.get("cookie"))[SESSION_COOKIE], env);
}

/** @param {{sub: string, username: string, email: string}} user */
export function sessionCookie(user, { secure = false, env = process.env } = {}) {
  const secret = sessionSecret(env);
  if (!secret) throw new Error("no session secret");
  const value = sign(secret, SESSION_COOKIE, { sub: user.sub, username: user.username, email: user.email }, SESSION_SECONDS);
  return serializeCookie(SESSION_COOKIE, value, { maxAge: SESSION_SECONDS, secure, env });
}
