// The app's pages, by path under the base path. Plain JS (no JSX) so `npm test` can import it.
// Add a page: a component in src/pages/, a line in PAGES, and (for a protected page) use
// useCurrentUser in it as Account does.
export const PAGES = {
  "": "home",
  account: "account",
};

// import.meta.env.BASE_URL is "<MGX_BASE_PATH>/" (always with a trailing slash).
export function pageFor(pathname, baseUrl) {
  const base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  if (pathname === base.slice(0, -1)) return "home";
  if (!pathname.startsWith(base)) return "notfound";
  const rest = pathname.slice(base.length).replace(/\/+$/, "");
  return PAGES[rest] ?? "notfound";
}

// Where an unauthenticated visitor of `here` (a path with its query) is sent: the backend's
// login, which comes back to `here` afterwards.
export function loginUrl(baseUrl, here) {
  return `${baseUrl}auth/login?next=${encodeURIComponent(here)}`;
}
