import { useEffect, useState } from "react";
import { api } from "../api.js";

const BASE = import.meta.env.BASE_URL;

export default function Home() {
  const [home, setHome] = useState(null);
  useEffect(() => {
    api("home").then(({ body }) => setHome(body)).catch(() => setHome({}));
  }, []);
  const user = home?.user;
  return (
    <>
      <h1>__APP_NAME__</h1>
      <p>Your app is running. Describe what it should do in the MGX chat and the team will build it here.</p>
      {home === null ? (
        <p>Loading…</p>
      ) : user ? (
        <section>
          <p>Signed in as <strong>{user.username}</strong>.</p>
          <p><a href={`${BASE}account`}>Your account</a></p>
          <form method="post" action={`${BASE}auth/logout`}>
            <button type="submit">Log out</button>
          </form>
        </section>
      ) : (
        <section>
          <p><a href={`${BASE}auth/login`}>Log in with MGX</a></p>
          <form method="post" action={`${BASE}auth/password`}>
            <label>Username <input name="username" autoComplete="username" required /></label>
            <label>Password <input name="password" type="password" autoComplete="current-password" required /></label>
            <button type="submit">Log in</button>
          </form>
        </section>
      )}
    </>
  );
}
