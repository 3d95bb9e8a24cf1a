import { useEffect, useState } from "react";

const BASE = import.meta.env.BASE_URL;

// Calls the backend under the base path (`api/...`), with the session cookie.
export async function api(path) {
  const response = await fetch(`${BASE}api/${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body };
}

// { loading, user } from api/me; user is null when not logged in.
export function useCurrentUser() {
  const [state, setState] = useState({ loading: true, user: null });
  useEffect(() => {
    api("me")
      .then(({ status, body }) => setState({ loading: false, user: status === 200 ? body : null }))
      .catch(() => setState({ loading: false, user: null }));
  }, []);
  return state;
}
