// The users collection against a real MongoDB. MGX runs `npm test` with MONGODB_URL set; without
// it these tests are skipped (and say why).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { MongoClient } from "mongodb";
import { getDb, upsertUser } from "../lib/db.mjs";

const url = process.env.MONGODB_URL;
const skip = url ? false : "MONGODB_URL is not set: no MongoDB to test the users collection against";
// A throwaway database next to the app's own, so the test never touches real users.
const env = { MONGODB_URL: url, MONGODB_DB: `test_${randomBytes(4).toString("hex")}` };

after(async () => {
  if (!url) return;
  const client = await MongoClient.connect(url);
  await client.db(env.MONGODB_DB).dropDatabase();
  await client.close();
  const cached = /** @type {any} */ (globalThis).__mgxMongo;
  if (cached) await cached.client.close();
});

test("every login upserts the user by sub: one document, created once, last login and names kept current", { skip }, async () => {
  const db = await getDb(env);
  const first = new Date("2025-01-01T00:00:00Z");
  const later = new Date("2025-01-02T00:00:00Z");

  await upsertUser(db, { sub: "42", username: "alice", email: "alice@example.org" }, first);
  await upsertUser(db, { sub: "42", username: "alice2", email: "new@example.org" }, later);

  const docs = await db.collection("users").find({}, { projection: { _id: 0 } }).toArray();
  assert.deepEqual(docs, [{ sub: "42", username: "alice2", email: "new@example.org", last_login: later, created_at: first }]);
});

test("the users collection has a unique index on sub (made at startup, idempotently)", { skip }, async () => {
  const db = await getDb(env);
  const indexes = await db.collection("users").indexes();
  assert.ok(indexes.some((ix) => ix.unique && JSON.stringify(ix.key) === '{"sub":1}'));
  await assert.rejects(db.collection("users").insertOne({ sub: "42" }), { name: "MongoServerError" }); // a second user with the same sub
});
