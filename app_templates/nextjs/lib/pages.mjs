// Small HTML pages the auth routes answer with (errors, the password form again). Plain strings
// so the routes stay framework-neutral and the tests can read them.
import { appName, basePath } from "./config.mjs";

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function page(title, inner, env = process.env) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · ${escapeHtml(appName(env))}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 720px; margin: 64px auto; padding: 0 24px">
${inner}
<p><a href="${escapeHtml(basePath(env))}/">Back to ${escapeHtml(appName(env))}</a></p></body></html>`;
}

export function htmlResponse(status, body, headers = {}) {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...headers } });
}

/** A clear page for a login that could not go on. */
export function errorPage(status, message, env = process.env) {
  const base = escapeHtml(basePath(env));
  const retry = status === 503 ? "" : `<p><a href="${base}/auth/login">Log in with MGX</a></p>`;
  return htmlResponse(status, page("Login failed", `<h1>Login failed</h1><p role="alert">${escapeHtml(message)}</p>${retry}`, env));
}

/** The password form (the home page has the same one), with MGX's message above it. */
export function passwordFormHtml({ message = "", username = "" } = {}, env = process.env) {
  const base = escapeHtml(basePath(env));
  return `<form method="post" action="${base}/auth/password">
${message ? `<p role="alert" style="color: #b00020">${escapeHtml(message)}</p>` : ""}
<label>Username <input name="username" autocomplete="username" value="${escapeHtml(username)}" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>`;
}

export function passwordFailedPage(status, message, username, env = process.env) {
  return htmlResponse(status, page("Log in", `<h1>Log in</h1>${passwordFormHtml({ message, username }, env)}
<p>Or <a href="${escapeHtml(basePath(env))}/auth/login">log in with MGX</a>.</p>`, env));
}
