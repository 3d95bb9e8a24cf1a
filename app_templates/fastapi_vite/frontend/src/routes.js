// The app's pages, by path under the base path. Plain JS (no JSX) so `npm test` can import it.
// Add a page: a component in src/pages/, a line in PAGES, and (for a protected page) use
// useCurrentUser in it as Account does.
export const PAGES = {
  "": "home",
  account: "account",
};

// Pages only for logged-in users: the servers (Vite in dev, server.mjs in production) answer a
// direct request for one with a 302 to the login when api/me says 401, and the page itself
// does the same in the browser.
export const PROTECTED = ["account"];

// import.meta.env.BASE_URL is "<MGX_BASE_PATH>/" (always with a trailing slash).
export function pageFor(pathname, baseUrl) {
  const base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  if (pathname === base.slice(0, -1)) return "home";
  if (!pathname.startsWith(base)) return "notfound";
  const rest = pathname.slice(base.length).replace(/\/+$/, "");
  return PAGES[rest] ?? "notfound";
}

// `pathname` is a protected page under `base` ("/apps/x/dev", no trailing slash).
export function isProtected(pathname, base) {
  if (!pathname.startsWith(`${base}/`)) return false;
  return PROTECTED.includes(pathname.slice(base.length + 1).replace(/\/+$/, ""));
}

// Where an unauthenticated visitor of `here` (a path with its query) is sent: the backend's
// login, which comes back to `here` afterwards.
export function loginUrl(baseUrl, here) {
  return `${baseUrl}auth/login?next=${encodeURIComponent(here)}`;
}
