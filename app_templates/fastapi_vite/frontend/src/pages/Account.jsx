import { useEffect } from "react";
import { useCurrentUser } from "../api.js";
import { loginUrl } from "../routes.js";

const BASE = import.meta.env.BASE_URL;

// A protected page: not logged in → MGX login, then back here.
export default function Account() {
  const { loading, user } = useCurrentUser();
  useEffect(() => {
    if (!loading && !user) window.location.assign(loginUrl(BASE, window.location.pathname + window.location.search));
  }, [loading, user]);
  if (!user) return <p>Loading…</p>;
  return (
    <>
      <h1>Your account</h1>
      <p>Signed in as <strong>{user.username}</strong></p>
      {user.email && <p>Email: {user.email}</p>}
      <p><a href={BASE}>Home</a></p>
      <form method="post" action={`${BASE}auth/logout`}>
        <button type="submit">Log out</button>
      </form>
    </>
  );
}
