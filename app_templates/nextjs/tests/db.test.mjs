// The users collection against a real MongoDB. MGX runs `npm test` with MONGODB_URL and
// MONGODB_DB set; without them these tests are skipped (and say why).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { getDb, upsertUser } from "../lib/db.mjs";

const url = process.env.MONGODB_URL;
const skip = url ? false : "MONGODB_URL is not set: no MongoDB to test the users collection against";
// The app's own database, the only one its MONGODB_URL opens; the tests touch only users of
// their own, with subjects no real login has, and remove them afterwards.
const env = { MONGODB_URL: url, MONGODB_DB: process.env.MONGODB_DB };
const sub = `test-${randomBytes(6).toString("hex")}`;

after(async () => {
  if (!url) return;
  const db = await getDb(env);
  await db.collection("users").deleteMany({ sub: { $in: [sub, `${sub}-b`] } });
  const cached = /** @type {any} */ (globalThis).__mgxMongo;
  if (cached) await cached.client.close();
});

test("every login upserts the user by sub: one document, created once, last login and names kept current", { skip }, async () => {
  const db = await getDb(env);
  const first = new Date("2025-01-01T00:00:00Z");
  const later = new Date("2025-01-02T00:00:00Z");

  await upsertUser(db, { sub, username: "alice", email: "alice@example.org" }, first);
  await upsertUser(db, { sub, username: "alice2", email: "new@example.org" }, later);

  const docs = await db.collection("users").find({ sub }, { projection: { _id: 0 } }).toArray();
  assert.deepEqual(docs, [{ sub, username: "alice2", email: "new@example.org", last_login: later, created_at: first }]);
});

test("the users collection has a unique index on sub (made at startup, idempotently)", { skip }, async () => {
  const db = await getDb(env);
  const indexes = await db.collection("users").indexes();
  assert.ok(indexes.some((ix) => ix.unique && JSON.stringify(ix.key) === '{"sub":1}'));
  await db.collection("users").insertOne({ sub: `${sub}-b` });
  await assert.rejects(db.collection("users").insertOne({ sub: `${sub}-b` }), { name: "MongoServerError", code: 11000 }); // a second user with the same sub
});
