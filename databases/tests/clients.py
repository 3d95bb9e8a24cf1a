"""Clients of the apps' MongoDB as an app uses it, shared by the isolation and guard tests:
pymongo with the URL an app's containers receive, and the Node driver of the Next.js template."""
import pymongo
import pymongo.errors
import pytest
from django.conf import settings

UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
NODE_DRIVER = "mongodb@6.22.0"  # what app_templates/nextjs/package.json pins


def seen_from_host(url: str) -> str:
    """The URL a container is given, with the address it means from this host."""
    return url.replace("host.docker.internal", settings.MGX_INTERNAL_HOST)


def connect(url: str) -> pymongo.MongoClient:
    return pymongo.MongoClient(seen_from_host(url), serverSelectionTimeoutMS=5000, connectTimeoutMS=5000)


def refused(call, code=UNAUTHORIZED):
    with pytest.raises(pymongo.errors.OperationFailure) as caught:
        call()
    assert caught.value.code == code, caught.value.details
    return caught.value


def wrong_password(url: str) -> str:
    user_password, _, rest = url.partition("@")
    return user_password.rsplit(":", 1)[0] + ":" + "0" * 64 + "@" + rest


# Run with node, DRIVER_DIR (the driver's node_modules is there), MONGODB_URL and MONGODB_DB as
# an app gets them, OTHER_DB another app's database, WRONG_URL the URL with a wrong password.
# Prints one JSON line; `node_probe_holds` says what it must show.
NODE_PROBE = r"""
const { MongoClient } = require(process.env.DRIVER_DIR + "/node_modules/mongodb");
async function attempt(fn) { try { await fn(); return "allowed"; } catch (e) { return e.code ?? String(e); } }
(async () => {
  const out = {};
  const client = new MongoClient(process.env.MONGODB_URL, { serverSelectionTimeoutMS: 15000 });
  try {
    await client.connect();
    const db = client.db(process.env.MONGODB_DB);
    const notes = db.collection("node_notes");
    await notes.insertMany(Array.from({ length: 120 }, (_, i) => ({ i })));
    out.count = await notes.countDocuments();
    out.read = (await notes.find({}, { batchSize: 25 }).sort({ i: 1 }).toArray()).map((d) => d.i);
    await notes.createIndex({ i: 1 }, { unique: true });
    out.duplicate = await attempt(() => notes.insertOne({ i: 1 }));
    await db.collection("users").updateOne({ sub: "7" }, { $set: { username: "ann" } }, { upsert: true });
    out.user = (await db.collection("users").findOne({ sub: "7" })).username;
    out.databases = (await client.db("admin").admin().listDatabases()).databases.map((d) => d.name);
    const other = client.db(process.env.OTHER_DB);
    out.other = {
      find: await attempt(() => other.collection("secrets").findOne()),
      insert: await attempt(() => other.collection("secrets").insertOne({ planted: true })),
      drop: await attempt(() => other.dropDatabase()),
      mgx: await attempt(() => client.db("mgx").collection("events").findOne()),
    };
  } catch (e) {
    out.error = String(e.stack || e);
  } finally {
    await client.close();
  }
  const wrong = new MongoClient(process.env.WRONG_URL, { serverSelectionTimeoutMS: 15000 });
  out.wrongPassword = await attempt(() => wrong.connect());
  await wrong.close().catch(() => {});
  console.log(JSON.stringify(out));
})();
"""


def node_probe_holds(out: dict, *, own: str) -> None:
    assert "error" not in out, out.get("error")
    assert out["count"] == 120 and out["read"] == list(range(120))  # 5 batches of 25: getMore
    assert out["duplicate"] == 11000 and out["user"] == "ann"
    assert out["databases"] == [own]
    assert out["other"] == {"find": UNAUTHORIZED, "insert": UNAUTHORIZED, "drop": UNAUTHORIZED, "mgx": UNAUTHORIZED}
    assert out["wrongPassword"] == AUTHENTICATION_FAILED
