// The app's own MongoDB database (MONGODB_URL, MONGODB_DB), with the official driver. One client
// per process, kept on globalThis so dev-mode reloads do not open a new pool each edit.
import { MongoClient } from "mongodb";

/** @param {Record<string, string | undefined>} [env] */
export function dbConfig(env = process.env) {
  return {
    url: env.MONGODB_URL || "",
    name: env.MONGODB_DB || (env.MGX_APP_SLUG ? `app_${env.MGX_APP_SLUG}` : "app"),
  };
}

export class DatabaseUnavailable extends Error {}

const cache = /** @type {any} */ (globalThis);

/** The database, with the indexes in place (created once per process, idempotent).
 * @returns {Promise<import("mongodb").Db>} */
export async function getDb(env = process.env) {
  const { url, name } = dbConfig(env);
  if (!url) throw new DatabaseUnavailable("MONGODB_URL is not set");
  const key = `${url}#${name}`;
  if (!cache.__mgxMongo || cache.__mgxMongo.key !== key) {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000, appName: env.MGX_APP_SLUG || "app" });
    const ready = client
      .connect()
      .then(async () => {
        const db = client.db(name);
        await ensureIndexes(db);
        return db;
      });
    cache.__mgxMongo = { key, ready, client };
    // A failed connection is not cached: the next request tries again.
    ready.catch(() => {
      if (cache.__mgxMongo && cache.__mgxMongo.ready === ready) cache.__mgxMongo = undefined;
      client.close().catch(() => {});
    });
  }
  try {
    return await cache.__mgxMongo.ready;
  } catch (err) {
    throw new DatabaseUnavailable(String(/** @type {any} */ (err).message || err));
  }
}

/** @param {import("mongodb").Db} db */
export async function ensureIndexes(db) {
  await db.collection("users").createIndex({ sub: 1 }, { unique: true, name: "sub_unique" });
}

/** Record a login: the user's current name and email, when they last logged in; created_at
 * only the first time. @param {import("mongodb").Db} db
 * @param {{sub: string, username: string, email: string}} user */
export async function upsertUser(db, user, now = new Date()) {
  // A whole-document replace rather than `$set`: MGX's embedded MongoDB-compatible store keeps
  // a date `$set` on an existing document as a string. Fields the app added are kept.
  const users = db.collection("users");
  const existing = await users.findOne({ sub: user.sub });
  const doc = { ...(existing || {}), sub: user.sub, username: user.username, email: user.email, last_login: now,
    created_at: existing?.created_at ?? now };
  await users.replaceOne({ sub: user.sub }, doc, { upsert: true });
}

/** What auth/callback and auth/password use by default. @param {{sub: string, username: string, email: string}} user */
export async function saveUser(user, env = process.env) {
  await upsertUser(await getDb(env), user);
}
