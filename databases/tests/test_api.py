"""The database API against the apps' real store: CRUD, queries, Extended JSON, indexes,
export/import, and the refusals (bad JSON, server-side JavaScript, someone else's app, names
that try to reach another database)."""
import json
from urllib.parse import quote

import pytest
import requests
from bson import ObjectId

from .conftest import PASSWORD, DbApi, bearer

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(store, name="app_ledger"):
    db = store[name]
    return {c: sorted(map(str, db[c].find({}))) for c in sorted(db.list_collection_names())}


def test_crud_with_extended_json_round_trips(owner_api, apps_store):
    api = owner_api
    assert api("POST", body={"name": "people"}).status_code == 201
    assert api("POST", body={"name": "people"}).status_code == 409
    listed = api("GET").json()
    assert listed["database"] == "app_ledger"
    assert {"name": "people", "count": 0} .items() <= next(c for c in listed["collections"] if c["name"] == "people").items()

    oid = "65a1b2c3d4e5f60718293a4b"
    made = api("POST", "/people/documents", body={"_id": {"$oid": oid}, "email": "ann@example.com",
                                                   "born": {"$date": "1990-05-17T08:30:00Z"}, "n": 1})
    assert made.status_code == 201, made.text
    assert made.json()["document"] == {"_id": {"$oid": oid}, "email": "ann@example.com",
                                       "born": {"$date": "1990-05-17T08:30:00Z"}, "n": 1}
    stored = apps_store["app_ledger"]["people"].find_one({"_id": ObjectId(oid)})
    assert stored["born"].year == 1990  # a real date on the server, not a string

    got = api("GET", f"/people/documents/{oid}")
    assert got.status_code == 200 and got.json()["document"]["born"] == {"$date": "1990-05-17T08:30:00Z"}

    put = api("PUT", f"/people/documents/{oid}", body={"email": "ann@new.example", "born": {"$date": "2000-01-02T00:00:00Z"}})
    assert put.status_code == 200, put.text
    assert put.json()["document"] == {"_id": {"$oid": oid}, "email": "ann@new.example", "born": {"$date": "2000-01-02T00:00:00Z"}}
    assert apps_store["app_ledger"]["people"].find_one({"_id": ObjectId(oid)})["born"].year == 2000
    assert api("PUT", f"/people/documents/{oid}", body={"_id": {"$oid": "0" * 24}, "x": 1}).status_code == 422

    # A string _id goes by its JSON form.
    assert api("POST", "/people/documents", body={"_id": "ann", "v": 1}).status_code == 201
    assert api("GET", "/people/documents/" + quote('"ann"')).json()["document"] == {"_id": "ann", "v": 1}

    assert api("DELETE", f"/people/documents/{oid}").status_code == 204
    assert api("GET", f"/people/documents/{oid}").status_code == 404
    assert api("DELETE", f"/people/documents/{oid}").status_code == 404

    assert api("DELETE", "/people", params={"confirm": "peopl"}).status_code == 422
    assert "people" in apps_store["app_ledger"].list_collection_names()
    assert api("DELETE", "/people", params={"confirm": "people"}).status_code == 204
    assert "people" not in apps_store["app_ledger"].list_collection_names()


def test_filter_sort_projection_and_pages(owner_api, apps_store):
    api = owner_api
    apps_store["app_ledger"]["users"].insert_many(
        [{"n": i, "email": f"user{i}@{'x' if i % 2 else 'y'}.org", "secret": "s"} for i in range(30)])
    got = api("GET", "/users/documents", params={"filter": json.dumps({"email": {"$regex": "@X", "$options": "i"}}),
                                                 "sort": '{"n": -1}', "projection": '{"n": 1, "_id": 0}',
                                                 "limit": 5, "skip": 2})
    assert got.status_code == 200, got.text
    got = got.json()
    assert got["total"] == 15 and got["skip"] == 2 and got["limit"] == 5
    assert got["documents"] == [{"n": 25}, {"n": 23}, {"n": 21}, {"n": 19}, {"n": 17}]
    last = api("GET", "/users/documents", params={"sort": '{"n": 1}', "limit": 20, "skip": 20}).json()
    assert [d["n"] for d in last["documents"]] == list(range(20, 30)) and last["total"] == 30


@pytest.mark.parametrize("params,words", [
    ({"filter": '{"email": '}, "not valid JSON"),
    ({"filter": '[1]'}, "must be a JSON object"),
    ({"filter": '{"$where": "sleep(1000) || true"}'}, "$where"),
    ({"filter": '{"$expr": {"$function": {"body": "function(){return true}", "args": [], "lang": "js"}}}'}, "$function"),
    ({"filter": '{"a": {"$in": [{"$accumulator": {}}]}}'}, "$accumulator"),
    ({"filter": '{"a": {"$code": "function(){}"}}'}, "JavaScript"),
    ({"sort": '{"n": 2}'}, "sort"),
    ({"projection": '{"n": "yes"}'}, "projection"),
])
def test_bad_queries_are_refused_with_a_clear_message(owner_api, apps_store, params, words):
    apps_store["app_ledger"]["users"].insert_one({"n": 1})
    got = owner_api("GET", "/users/documents", params=params)
    assert got.status_code in (400, 422), got.text
    assert words in got.json()["error"]["message"]


def test_bad_documents_and_server_js_change_nothing(owner_api, apps_store):
    api = owner_api
    apps_store["app_ledger"]["users"].insert_one({"_id": "keep", "n": 1})
    before = snapshot(apps_store)
    for raw, words in [("{not json", "not valid JSON"), ("[1, 2]", "JSON object"),
                       ('{"$set": {"n": 2}}', "cannot start with"),
                       ('{"f": {"$where": "1"}}', "$where"),
                       ('{"_id": {"$oid": "nothex"}}', "Extended JSON")]:
        for method, path in (("POST", "/users/documents"), ("PUT", "/users/documents/" + quote('"keep"'))):
            got = api(method, path, raw=raw)
            assert got.status_code in (400, 422), (raw, got.text)
            assert words in got.json()["error"]["message"], (raw, got.json())
    assert snapshot(apps_store) == before


def test_indexes_unique_ttl_and_the_servers_message(owner_api, apps_store):
    api = owner_api
    people = apps_store["app_ledger"]["people"]
    people.insert_many([{"email": "a@x"}, {"email": "a@x"}, {"email": "b@x"}])
    clash = api("POST", "/people/indexes", body={"keys": {"email": 1}, "unique": True})
    assert clash.status_code == 409 and "UNIQUE" in clash.json()["error"]["message"].upper(), clash.text
    people.delete_one({"email": "a@x"})
    made = api("POST", "/people/indexes", body={"keys": {"email": 1}, "unique": True})
    assert made.status_code == 201, made.text
    name = made.json()["name"]
    listed = {ix["name"]: ix for ix in api("GET", "/people/indexes").json()["indexes"]}
    unique = next(ix for ix in listed.values() if ix["keys"] == [["email", 1]])
    assert unique["unique"] is True
    dup = api("POST", "/people/documents", body={"email": "b@x"})
    assert dup.status_code == 409 and "duplicate" in dup.json()["error"]["message"]
    ttl = api("POST", "/people/indexes", body={"keys": {"seen_at": 1}, "ttl_seconds": 3600})
    assert ttl.status_code == 201
    assert any(ix["ttl_seconds"] == 3600 for ix in api("GET", "/people/indexes").json()["indexes"])
    assert api("POST", "/people/indexes", body={"keys": {"$a": 1}}).status_code == 422
    assert api("POST", "/people/indexes", body={"keys": {"a": 1, "b": 1}, "ttl_seconds": 5}).status_code == 422
    # Dropping goes by a name the server listed, nothing else.
    assert api("DELETE", "/people/indexes", params={"index": "x'); DROP TABLE people; --"}).status_code == 404
    assert api("DELETE", "/people/indexes", params={"index": "_id_"}).status_code == 422
    assert api("DELETE", "/people/indexes", params={"index": unique["name"]}).status_code == 204
    assert unique["name"] not in {ix["name"] for ix in api("GET", "/people/indexes").json()["indexes"]}
    assert name


def test_export_then_import_is_the_same_collection(owner_api, apps_store):
    api = owner_api
    src = apps_store["app_ledger"]["orders"]
    from datetime import datetime

    from bson.int64 import Int64
    src.insert_many([{"n": i, "total": i * 1.5, "big": Int64(2**40 + i), "at": datetime(2024, 1, i + 1, 12, 0),
                      "tags": ["a", {"b": None}], "ref": ObjectId()} for i in range(5)])
    exported = api("GET", "/orders/export")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("application/x-ndjson")
    lines = exported.text.splitlines()
    assert len(lines) == 5
    assert api("POST", body={"name": "orders_copy"}).status_code == 201
    done = api("POST", "/orders_copy/import", raw=exported.text, headers={"Content-Type": "application/x-ndjson"})
    assert done.status_code == 200 and done.json() == {"imported": 5, "skipped": {}}, done.text
    original = sorted(src.find({}), key=lambda d: d["n"])
    copy = sorted(apps_store["app_ledger"]["orders_copy"].find({}), key=lambda d: d["n"])
    assert copy == original
    assert [type(d["big"]) for d in copy] == [type(d["big"]) for d in original]


def test_a_bad_line_imports_nothing_unless_skipping(owner_api, apps_store):
    api = owner_api
    assert api("POST", body={"name": "items"}).status_code == 201
    body = '{"a": 1}\n{"a": 2\n\n{"$where": "1"}\n{"a": 4}\n'
    refused = api("POST", "/items/import", raw=body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert set(error["fields"]) == {"line 2", "line 4"} and "Nothing was imported" in error["message"]
    assert apps_store["app_ledger"]["items"].count_documents({}) == 0
    # A line the server refuses (a duplicate _id) also takes back the lines before it.
    apps_store["app_ledger"]["items"].insert_one({"_id": "taken"})
    refused = api("POST", "/items/import", raw='{"a": 1}\n{"_id": "taken"}\n{"a": 3}\n')
    assert refused.status_code == 400 and set(refused.json()["error"]["fields"]) == {"line 2"}, refused.text
    assert apps_store["app_ledger"]["items"].count_documents({}) == 1
    skipped = api("POST", "/items/import", raw=body, params={"skip_bad": "true"})
    assert skipped.status_code == 200 and skipped.json()["imported"] == 2
    assert set(skipped.json()["skipped"]) == {"2", "4"}
    assert sorted(d["a"] for d in apps_store["app_ledger"]["items"].find({"a": {"$exists": True}})) == [1, 4]


def test_someone_elses_app_is_not_found_and_unchanged(live, owner_api, user_factory, apps_store):
    apps_store["app_ledger"]["users"].insert_one({"_id": "mine", "email": "private@x"})
    before = snapshot(apps_store)
    user_factory(username="db-stranger", password=PASSWORD)
    stranger = DbApi(live, owner_api.app.slug, bearer(live, "db-stranger"))
    anonymous = DbApi(live, owner_api.app.slug, "")
    anonymous.headers = {}
    calls = [("GET", "", None), ("POST", "", {"name": "x"}), ("GET", "/users/documents", None),
             ("POST", "/users/documents", {"a": 1}), ("GET", "/users/documents/" + quote('"mine"'), None),
             ("PUT", "/users/documents/" + quote('"mine"'), {"a": 1}), ("DELETE", "/users/documents/" + quote('"mine"'), None),
             ("GET", "/users/indexes", None), ("POST", "/users/indexes", {"keys": {"a": 1}}),
             ("DELETE", "/users/indexes", None), ("GET", "/users/export", None), ("DELETE", "/users", None)]
    for method, path, body in calls:
        got = stranger(method, path, body=body, params={"confirm": "users", "index": "_id_"})
        assert got.status_code == 404 and "private" not in got.text, (method, path, got.status_code)
        assert anonymous(method, path, body=body).status_code == 401
    assert stranger("POST", "/users/import", raw='{"a": 1}').status_code == 404
    assert snapshot(apps_store) == before
    # A cookie session writing without CSRF is refused too.
    http = live.login("db-owner", PASSWORD)
    assert http.post(f"{live.url}/api/apps/{owner_api.app.slug}/db/collections", json={"name": "z"}, timeout=10).status_code == 403
    assert snapshot(apps_store) == before


def test_other_databases_are_unreachable_by_name_tricks(live, owner_api, apps_store, settings):
    import pymongo

    # Markers where a trick would land: MGX's own store, and `mgx`/`admin` on the apps' store.
    with pymongo.MongoClient(settings.MGX_MONGO_URL, serverSelectionTimeoutMS=5000) as mgx:
        mgx.get_default_database()["secrets"].insert_one({"marker": "MGX-OWN-SECRET"})
    apps_store["mgx"]["secrets"].insert_one({"marker": "MGX-OWN-SECRET"})
    apps_store["admin"]["secrets"].insert_one({"marker": "MGX-OWN-SECRET"})
    apps_store["app_other"]["secrets"].insert_one({"marker": "MGX-OWN-SECRET"})
    apps_store["app_ledger"]["notes"].insert_one({"n": 1})
    api = owner_api
    tricks = ["app_x/../mgx", "..%2Fmgx", "../../mgx", "app_ledger.$cmd", "$cmd", "mgx.secrets", "system.users",
              "system.indexes", "notes\x00", "notes%00", "ｍｇｘ", "mgx\u2024secrets", "sеcrets",  # Cyrillic е
              ".secrets", "secrets.", "a..b", "x" * 121, "admin.secrets", "..", ".", "$where"]
    for name in tricks:
        for suffix in ("/documents", "/indexes", "/export"):
            got = requests.get(api.base + "/" + quote(name, safe="") + suffix, headers=api.headers, timeout=10)
            assert "MGX-OWN-SECRET" not in got.text, (name, suffix)
            assert got.status_code in (404, 405, 422), (name, suffix, got.status_code, got.text)
        made = api("POST", body={"name": name})
        assert made.status_code == 422 and "collection name" in made.json()["error"]["message"], (name, made.text)
    # The slug side: only the app's own `app_<slug>`, and only for its owner.
    base = f"{live.url}/api/apps/"
    for slug in ("app_x%2F..%2Fmgx", "..%2Fmgx", "mgx", "admin", "other", "%EF%BD%8D%EF%BD%87%EF%BD%98", "ledger%00"):
        got = requests.get(base + slug + "/db/collections/secrets/documents", headers=api.headers, timeout=10)
        assert got.status_code == 404 and "MGX-OWN-SECRET" not in got.text, (slug, got.status_code)
    # A collection named like a database is just a collection of app_ledger.
    assert api("POST", body={"name": "mgx"}).status_code == 201
    assert "mgx" in apps_store["app_ledger"].list_collection_names()
    assert api("GET", "/mgx/documents").json()["documents"] == []
    listed = api("GET").json()
    assert listed["database"] == "app_ledger" and "secrets" not in {c["name"] for c in listed["collections"]}
