"""An app's connection string opens its own database `app_<slug>` and nothing else, on the
embedded store as on a MongoDB that enforces authentication.

The embedded default: app containers reach the apps' MongoDB through the guard
(databases/guard.py) with the URL MGX hands them (MONGODB_URL, its own user `app_<slug>`);
the store itself (nx-27017) listens on loopback only, for MGX. Each attack below uses app A's
real URL, as its containers receive it, against app B's data. A real MongoDB with per-app users
(MGX_APPS_MONGO_AUTH) is checked when MGX_TEST_AUTH_MONGO_URL names one."""
import os

import pymongo
import pymongo.errors
import pytest
from bson import Int64, SON
from django.conf import settings

from databases import isolation
from deployments.environment import app_environment

from .clients import AUTHENTICATION_FAILED, connect, node_probe_holds, refused, seen_from_host, wrong_password

pytestmark = pytest.mark.django_db

AUTH_URL = os.environ.get("MGX_TEST_AUTH_MONGO_URL", "")
@pytest.fixture
def alpha(app_factory):
    app = app_factory(name="Alpha")
    with connect(app_environment(app=app, stage="dev")["MONGODB_URL"]) as client:
        client.app = app
        yield client


@pytest.fixture
def bravo(app_factory):
    """App B, with data of its own written through its own URL."""
    app = app_factory(name="Bravo")
    with connect(app_environment(app=app, stage="prod")["MONGODB_URL"]) as client:
        client["app_bravo"]["secrets"].insert_many([{"n": i, "secret": f"b-{i}"} for i in range(20)])
        client.app = app
        yield client


def bravo_intact(store):
    assert store["app_bravo"]["secrets"].count_documents({}) == 20
    assert sorted(store["app_bravo"].list_collection_names()) == ["secrets", "users"]  # users: made by MGX


def test_the_store_itself_answers_on_loopback_only_and_apps_get_their_own_user(alpha):
    """Containers reach the host's Docker bridge address: the guard listens there, the store
    (which has no users) does not."""
    import socket

    env = app_environment(app=alpha.app, stage="dev")
    assert env["MONGODB_URL"].startswith("mongodb://app_alpha:")
    assert env["MONGODB_URL"].endswith(f"@host.docker.internal:{settings.MGX_APPS_MONGO_PORT}/app_alpha?authSource=app_alpha")
    assert settings.MGX_APPS_MONGO_URL == f"mongodb://127.0.0.1:{settings.MGX_APPS_MONGO_STORE_PORT}/"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((settings.MGX_INTERNAL_HOST, settings.MGX_APPS_MONGO_STORE_PORT), timeout=5).close()
    socket.create_connection((settings.MGX_INTERNAL_HOST, settings.MGX_APPS_MONGO_PORT), timeout=5).close()


def test_listing_databases_with_an_apps_url_shows_only_its_own(alpha, bravo, apps_store):
    alpha["app_alpha"]["notes"].insert_one({"n": 1})
    assert "app_bravo" in apps_store.list_database_names()  # MGX itself sees every app's
    assert alpha.list_database_names() == ["app_alpha"]
    listed = alpha.admin.command("listDatabases")
    assert [d["name"] for d in listed["databases"]] == ["app_alpha"]
    assert bravo.list_database_names() == ["app_bravo"]


def test_another_apps_database_refuses_reads_writes_and_drops(alpha, bravo, apps_store):
    theirs = alpha["app_bravo"]
    refused(lambda: theirs["secrets"].find_one())
    refused(lambda: theirs["secrets"].count_documents({}))
    refused(lambda: theirs["secrets"].insert_one({"planted": True}))
    refused(lambda: theirs["secrets"].update_many({}, {"$set": {"secret": "gone"}}))
    refused(lambda: theirs["secrets"].delete_many({}))
    refused(lambda: theirs.drop_collection("secrets"))
    refused(lambda: theirs.list_collection_names())
    refused(lambda: alpha.drop_database("app_bravo"))
    for elsewhere in ("mgx", "admin", "local", "config", "app_alpha2"):
        refused(lambda: alpha[elsewhere]["anything"].find_one())
    bravo_intact(apps_store)
    assert apps_store["app_bravo"]["secrets"].count_documents({"secret": "gone"}) == 0


def test_another_apps_cursor_cannot_be_read_on_nor_killed(alpha, bravo):
    cursor = bravo["app_bravo"]["secrets"].find({}, sort=[("n", 1)], batch_size=2)
    assert [d["n"] for d in (next(cursor), next(cursor))] == [0, 1]
    cursor_id = Int64(cursor.cursor_id)
    assert cursor_id
    mine, theirs = alpha["app_alpha"], alpha["app_bravo"]
    for db in (mine, theirs):
        refused(lambda: db.command(SON([("getMore", cursor_id), ("collection", "secrets"), ("batchSize", 5)])))
        refused(lambda: db.command(SON([("killCursors", "secrets"), ("cursors", [cursor_id])])))
    # Nothing was taken from B's cursor, and it still works for B.
    assert [d["n"] for d in cursor] == list(range(2, 20))


def test_command_keys_smuggled_behind_an_allowed_command_are_refused(alpha, bravo, apps_store):
    """The store dispatches on the presence of a key anywhere in the command; the guard reads the
    whole command, not only its name."""
    cursor = bravo["app_bravo"]["secrets"].find({}, batch_size=2)
    next(cursor)
    cursor_id = Int64(cursor.cursor_id)
    mine = alpha["app_alpha"]
    mine["notes"].insert_one({"n": 1})
    for command in (
        SON([("count", "notes"), ("dropDatabase", "app_bravo")]),
        SON([("ping", 1), ("dropDatabase", "app_bravo")]),
        SON([("find", "notes"), ("listDatabases", 1)]),
        SON([("ping", 1), ("listDatabases", 1)]),
        SON([("ping", 1), ("getMore", cursor_id), ("collection", "secrets")]),
        SON([("dbStats", 1), ("killCursors", "secrets"), ("cursors", [cursor_id])]),
        SON([("count", "notes"), ("renameCollection", "app_bravo.secrets"), ("to", "app_bravo.mine")]),
        SON([("count", "notes"), ("serverStatus", 1)]),
        SON([("count", "notes"), ("insert", "planted"), ("documents", [{"x": 1}])]),
    ):
        refused(lambda: mine.command(command))
    bravo_intact(apps_store)
    assert len(list(cursor)) == 19  # B's cursor untouched


def test_pipelines_naming_another_database_are_refused(alpha, bravo, apps_store):
    notes = alpha["app_alpha"]["notes"]
    notes.insert_many([{"n": i} for i in range(3)])
    other = {"db": "app_bravo", "coll": "secrets"}
    for pipeline in (
        [{"$out": {"db": "app_bravo", "coll": "planted"}}],
        [{"$merge": {"into": {"db": "app_bravo", "coll": "secrets"}, "whenMatched": "replace"}}],
        [{"$lookup": {"from": other, "localField": "n", "foreignField": "n", "as": "stolen"}}],
        [{"$lookup": {"from": other, "pipeline": [], "as": "stolen"}}],
        [{"$graphLookup": {"from": other, "startWith": "$n", "connectFromField": "n",
                           "connectToField": "n", "as": "stolen"}}],
        [{"$unionWith": {"coll": other}}],
        [{"$unionWith": {"coll": "notes", "pipeline": [{"$lookup": {"from": other, "pipeline": [], "as": "s"}}]}}],
        [{"$facet": {"x": [{"$lookup": {"from": other, "pipeline": [], "as": "s"}}]}}],
        [{"$match": {}}, {"$out": {"db": "mgx", "coll": "events"}}],
    ):
        refused(lambda: list(notes.aggregate(pipeline)))
    bravo_intact(apps_store)


def test_renaming_across_databases_is_refused_and_within_its_own_works(alpha, bravo, apps_store):
    alpha["app_alpha"]["notes"].insert_one({"n": 1})
    for source, target in (("app_alpha.notes", "app_bravo.notes"), ("app_bravo.secrets", "app_alpha.stolen"),
                           ("app_bravo.secrets", "app_bravo.renamed"), ("mgx.events", "app_alpha.events")):
        refused(lambda: alpha.admin.command(SON([("renameCollection", source), ("to", target)])))
    bravo_intact(apps_store)
    alpha["app_alpha"]["notes"].rename("kept")
    assert "kept" in alpha["app_alpha"].list_collection_names()
    assert "notes" not in alpha["app_alpha"].list_collection_names()


def test_without_credentials_only_the_handshake_answers(alpha, bravo):
    guard = settings.MGX_APPS_MONGO_URL_FOR_APPS  # the address apps reach, without any user
    with connect(guard) as anonymous:
        assert anonymous.admin.command("hello")["isWritablePrimary"]
        refused(lambda: anonymous.list_database_names())
        refused(lambda: anonymous.admin.command("ping"))
        refused(lambda: anonymous.admin.command("buildInfo"))
        refused(lambda: anonymous["app_bravo"]["secrets"].find_one())
        refused(lambda: anonymous["app_alpha"]["notes"].insert_one({"x": 1}))


def _with_credentials(url: str, *, user: str, password: str, source: str) -> str:
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(seen_from_host(url))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", f"/{source}",
                       f"authSource={source}", ""))


def test_a_wrong_password_or_another_apps_user_does_not_authenticate(alpha, bravo):
    guard = settings.MGX_APPS_MONGO_URL_FOR_APPS
    mine = isolation.app_mongo_password(app=alpha.app)
    for user, password, source in (
        ("app_alpha", "not-the-password", "app_alpha"),
        ("app_alpha", mine[:-1] + ("0" if mine[-1] != "0" else "1"), "app_alpha"),
        ("app_bravo", mine, "app_bravo"),  # A's password for B's user
        ("app_alpha", mine, "app_bravo"),  # A's user on B's database
        ("app_alpha", mine, "admin"),
        ("admin", mine, "admin"),
    ):
        with connect(_with_credentials(guard, user=user, password=password, source=source)) as client:
            refused(lambda: client["app_bravo"]["secrets"].find_one(), code=AUTHENTICATION_FAILED)


def test_an_app_works_on_its_own_database_through_its_url(alpha, bravo):
    db = alpha["app_alpha"]
    people = db["people"]
    people.create_index([("email", pymongo.ASCENDING)], unique=True)
    people.insert_one({"email": "ann@example.org", "n": 1})
    with pytest.raises(pymongo.errors.DuplicateKeyError) as duplicate:
        people.insert_one({"email": "ann@example.org", "n": 2})
    assert duplicate.value.code == 11000
    people.update_one({"email": "ann@example.org"}, {"$inc": {"n": 1}})
    people.replace_one({"email": "bob@example.org"}, {"email": "bob@example.org", "n": 5}, upsert=True)
    assert people.find_one({"email": "ann@example.org"})["n"] == 2
    assert people.count_documents({}) == 2 and sorted(people.distinct("n")) == [2, 5]
    assert any(ix.get("unique") for ix in people.index_information().values())
    people.delete_one({"email": "bob@example.org"})

    many = db["many"]
    many.insert_many([{"i": i} for i in range(1000)])
    assert [d["i"] for d in many.find({}, sort=[("i", 1)], batch_size=50)] == list(range(1000))
    assert len(list(many.aggregate([{"$match": {"i": {"$gte": 500}}}], batchSize=25))) == 500
    looked = list(people.aggregate([{"$lookup": {"from": "many", "localField": "n", "foreignField": "i", "as": "m"}}]))
    assert looked[0]["m"][0]["i"] == 2
    assert set(db.list_collection_names()) == {"people", "many", "users"}
    with alpha.start_session() as session:
        with session.start_transaction():
            db["ledger"].insert_one({"amount": 5}, session=session)
    assert db["ledger"].count_documents({}) == 1
    assert db.command("dbStats")["ok"] == 1 and alpha.admin.command("ping")["ok"] == 1
    db.drop_collection("many")
    assert "many" not in db.list_collection_names()


@pytest.mark.timeout(600)
def test_inside_an_app_container_the_template_driver_opens_its_own_database_only(runtime_image, app_factory, node_driver,
                                                                                 apps_store):
    """The real path: a container of the runtime image made as the app's dev container is (its
    environment with MONGODB_URL, the sandbox, host.docker.internal), running the Node driver the
    Next.js template uses against the guard."""
    import json

    import docker

    from deployments import services

    app, other = app_factory(name="Alpha"), app_factory(name="Bravo")
    app_environment(app=other, stage="dev")
    apps_store["app_bravo"]["secrets"].insert_one({"s": 1})
    config = services._container_config(app)  # the dev container's recipe, as dev_boot uses it
    env = config["environment"]
    assert env["MONGODB_URL"].startswith("mongodb://app_alpha:") and "@host.docker.internal:" in env["MONGODB_URL"]
    cache = [name for name in config["volumes"] if not name.startswith("/")]
    config.update(name=f"{config['name']}-mongo-probe", command=["node", "/opt/probe/probe.cjs"], ports={},
                  volumes={str(node_driver): {"bind": "/opt/probe", "mode": "ro"}}, working_dir="/tmp",
                  environment={**env, "DRIVER_DIR": "/opt/probe", "OTHER_DB": "app_bravo",
                               "WRONG_URL": wrong_password(env["MONGODB_URL"])})
    engine = docker.from_env()
    container = engine.containers.run(**config)
    try:
        exited = container.wait(timeout=300)
        output = container.logs().decode()
    finally:
        container.remove(force=True)
        for name in cache:
            engine.volumes.get(name).remove(force=True)
    assert exited["StatusCode"] == 0, output
    node_probe_holds(json.loads(output.strip().splitlines()[-1]), own="app_alpha")
    assert apps_store["app_bravo"]["secrets"].count_documents({}) == 1


@pytest.mark.skipif(not AUTH_URL, reason="needs a MongoDB with authentication (set MGX_TEST_AUTH_MONGO_URL)")
def test_on_a_mongodb_with_auth_an_apps_user_reads_its_database_and_no_other(app_factory, settings):
    settings.MGX_APPS_MONGO_URL, settings.MGX_APPS_MONGO_AUTH, settings.MGX_APPS_MONGO_GUARDED = AUTH_URL, True, False
    mine, theirs = app_factory(name="Mine App"), app_factory(name="Their App")
    for app in (mine, theirs):
        isolation.app_user_ensure(app=app)
    with pymongo.MongoClient(AUTH_URL) as admin:
        admin["app_their-app"]["secrets"].insert_one({"s": 1})
        admin["mgx"]["secrets"].insert_one({"s": 1})
    with pymongo.MongoClient(isolation.app_mongo_url(app=mine, base_url=AUTH_URL)) as client:
        client["app_mine-app"]["notes"].insert_one({"n": 1})
        assert client["app_mine-app"]["notes"].count_documents({}) == 1
        for other in ("app_their-app", "mgx", "admin"):
            with pytest.raises(pymongo.errors.OperationFailure):
                client[other]["secrets"].find_one()


def test_the_connection_string_names_the_apps_own_user_and_database(app_factory, settings):
    app = app_factory(name="Mine App")
    url = isolation.app_mongo_url(app=app, base_url="mongodb://root:pw@mongo:27017/admin")
    assert url.startswith("mongodb://app_mine-app:") and url.endswith("@mongo:27017/app_mine-app?authSource=app_mine-app")
    assert "root" not in url and isolation.app_mongo_password(app=app) not in isolation.app_mongo_url(
        app=app_factory(name="Other App"), base_url="mongodb://mongo:27017/")
