import { trace } from "@opentelemetry/api";
import { currentUser } from "@/lib/current-user";

// Links to route handlers are plain <a>/<form> (a full page load); the base path is prefixed
// by hand because only <Link> and the router add it.
const base = process.env.MGX_BASE_PATH || "";

export const dynamic = "force-dynamic";

export default async function Home() {
  // A custom span around the page's own work; Next.js's request span is its parent.
  return trace.getTracer("app").startActiveSpan("home.render", async (span) => {
    try {
      const user = await currentUser();
      span.setAttribute("app.logged_in", Boolean(user));
      return (
        <main style={{ maxWidth: 720, margin: "64px auto", padding: "0 24px" }}>
          <h1>__APP_NAME__</h1>
          <p>Your app is running. Describe what it should do in the MGX chat and the team will build it here.</p>
          {user ? (
            <section>
              <p>
                Signed in as <strong>{user.username}</strong>. <a href={`${base}/account`}>Your account</a>
              </p>
              <form method="post" action={`${base}/auth/logout`}>
                <button type="submit">Log out</button>
              </form>
            </section>
          ) : (
            <section>
              <p>
                <a href={`${base}/auth/login`}>Log in with MGX</a>
              </p>
              <form method="post" action={`${base}/auth/password`}>
                <label>
                  Username <input name="username" autoComplete="username" required />
                </label>{" "}
                <label>
                  Password <input name="password" type="password" autoComplete="current-password" required />
                </label>{" "}
                <button type="submit">Log in</button>
              </form>
            </section>
          )}
        </main>
      );
    } finally {
      span.end();
    }
  });
}
