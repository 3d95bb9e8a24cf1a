import { cookies } from "next/headers";
import { SESSION_COOKIE, readSession } from "./session.mjs";

/** The logged-in user in a page or layout (server components), or null. */
export async function currentUser() {
  const store = await cookies();
  return readSession(store.get(SESSION_COOKIE)?.value);
}
