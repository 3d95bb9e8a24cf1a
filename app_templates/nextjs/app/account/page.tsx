import { redirect } from "next/navigation";
import { currentUser } from "@/lib/current-user";

const base = process.env.MGX_BASE_PATH || "";

export const dynamic = "force-dynamic";

// The protected page: only for people logged in with MGX.
export default async function Account() {
  const user = await currentUser();
  if (!user) {
    // redirect() adds the base path itself; `next` is a full path, checked by auth/login.
    redirect(`/auth/login?next=${encodeURIComponent(`${base}/account`)}`);
  }
  return (
    <main style={{ maxWidth: 720, margin: "64px auto", padding: "0 24px" }}>
      <h1>Your account</h1>
      <p>
        Signed in as <strong>{user.username}</strong>
        {user.email ? ` (${user.email})` : ""}
      </p>
      <p>
        <a href={`${base}/`}>Home</a>
      </p>
      <form method="post" action={`${base}/auth/logout`}>
        <button type="submit">Log out</button>
      </form>
    </main>
  );
}
