"""The Database tab and the admin's collections page, through Django's test client (the page's
forms as HTMX posts them) against the apps' real store."""
import html
import re

import pytest
from bson import ObjectId

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "db-panel"}


@pytest.fixture
def ledger(app_factory, client, apps_store):
    app = app_factory(name="Ledger")
    client.force_login(app.owner)
    apps_store.drop_database("app_ledger")
    return app


def text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def post(client, app, action, **data):
    return client.post(f"/sessions/{app.slug}/db/{action}", data, **HX)


def test_crud_through_the_page(client, ledger, apps_store):
    made = post(client, ledger, "collections/new", name="people")
    assert made.status_code == 200 and "Created the collection “people”." in text(made)
    assert "people" in apps_store["app_ledger"].list_collection_names()

    oid = "65a1b2c3d4e5f60718293a4b"
    doc = '{"_id": {"$oid": "%s"}, "email": "ann@example.com", "at": {"$date": "2024-03-01T10:00:00Z"}}' % oid
    inserted = post(client, ledger, "documents/new", collection="people", document=doc)
    assert "Inserted a document (_id %s)." % oid in text(inserted)
    assert '&quot;$date&quot;: &quot;2024-03-01T10:00:00Z&quot;' in inserted.content.decode()
    assert apps_store["app_ledger"]["people"].find_one({"_id": ObjectId(oid)})["at"].year == 2024

    saved = post(client, ledger, "documents/save", collection="people", id=oid,
                 document='{"email": "ann@new.example", "at": {"$date": "2025-01-01T00:00:00Z"}}')
    assert "Saved the document." in text(saved)
    assert apps_store["app_ledger"]["people"].find_one({"_id": ObjectId(oid)})["email"] == "ann@new.example"

    page = client.get(f"/sessions/{ledger.slug}/?tab=database&collection=people&filter=%7B%22email%22%3A%7B%22%24regex%22%3A%22new%22%7D%7D")
    assert page.status_code == 200 and "1–1 of 1" in text(page) and "ann@new.example" in text(page)
    none = client.get(f"/sessions/{ledger.slug}/db/?collection=people&filter=%7B%22email%22%3A%22nobody%22%7D", **HX)
    assert "No documents match the filter" in text(none)

    deleted = post(client, ledger, "documents/delete", collection="people", id=oid)
    assert "Deleted the document." in text(deleted)
    assert apps_store["app_ledger"]["people"].count_documents({}) == 0


def test_bad_json_and_server_js_are_refused_on_the_page_and_change_nothing(client, ledger, apps_store):
    apps_store["app_ledger"]["people"].insert_one({"_id": "keep", "n": 1})
    for doc, words in [('{"n": ', "is not valid JSON: Expecting value at line 1, column 7."),
                       ('{"n": {"$function": {}}}', "$function, which runs JavaScript")]:
        refused = post(client, ledger, "documents/new", collection="people", document=doc)
        assert refused.status_code == 422 and words in text(refused)
        assert doc.replace('"', "&quot;") in refused.content.decode()  # what was typed is kept to fix
    bad_filter = client.get(f"/sessions/{ledger.slug}/db/?collection=people&filter=%7B%22%24where%22%3A%221%22%7D", **HX)
    assert bad_filter.status_code == 422 and "$where, which runs JavaScript" in text(bad_filter)
    assert list(apps_store["app_ledger"]["people"].find({})) == [{"_id": "keep", "n": 1}]


def test_a_unique_index_that_documents_break_says_so_and_a_duplicate_is_refused(client, ledger, apps_store):
    people = apps_store["app_ledger"]["people"]
    people.insert_many([{"email": "a@x"}, {"email": "a@x"}])
    clash = post(client, ledger, "indexes/new", collection="people", keys="email:1", unique="on")
    assert clash.status_code == 422 and "Existing documents break the unique index" in text(clash)
    people.delete_one({"email": "a@x"})
    made = post(client, ledger, "indexes/new", collection="people", keys="email:1", unique="on")
    assert "Created the index" in text(made) and "unique" in text(made)
    dup = post(client, ledger, "documents/new", collection="people", document='{"email": "a@x"}')
    assert dup.status_code == 422 and "The database refused a duplicate" in text(dup)
    assert people.count_documents({}) == 1


def test_drop_needs_the_name_typed(client, ledger, apps_store):
    apps_store["app_ledger"]["people"].insert_one({"n": 1})
    kept = post(client, ledger, "collections/drop", collection="people", confirm="People")
    assert kept.status_code == 422 and "Type the collection's name “people” to confirm" in text(kept)
    assert "people" in apps_store["app_ledger"].list_collection_names()
    dropped = post(client, ledger, "collections/drop", collection="people", confirm="people")
    assert "Dropped the collection “people”" in text(dropped)
    assert "people" not in apps_store["app_ledger"].list_collection_names()


def test_export_and_import_through_the_page(client, ledger, apps_store):
    from django.core.files.uploadedfile import SimpleUploadedFile

    apps_store["app_ledger"]["src"].insert_many([{"n": i, "id": ObjectId()} for i in range(3)])
    exported = client.get(f"/sessions/{ledger.slug}/db/export?collection=src")
    body = b"".join(exported)  # (an asynchronous stream: core.streams)
    assert exported.status_code == 200 and body.count(b"\n") == 3
    post(client, ledger, "collections/new", name="dst")
    bad = body + b'{"oops": \n'
    refused = client.post(f"/sessions/{ledger.slug}/db/import", {"collection": "dst", "file": SimpleUploadedFile("d.jsonl", bad)}, **HX)
    assert refused.status_code == 422 and "Nothing was imported: 1 bad line — line 4" in text(refused)
    assert apps_store["app_ledger"]["dst"].count_documents({}) == 0
    done = client.post(f"/sessions/{ledger.slug}/db/import",
                       {"collection": "dst", "skip_bad": "on", "file": SimpleUploadedFile("d.jsonl", bad)}, **HX)
    assert "Imported 3 documents. Skipped line 4" in text(done)
    assert sorted(apps_store["app_ledger"]["dst"].find({}), key=lambda d: d["n"]) == \
        sorted(apps_store["app_ledger"]["src"].find({}), key=lambda d: d["n"])


def test_another_users_app_is_not_found_and_unchanged(client, ledger, user_factory, apps_store):
    apps_store["app_ledger"]["people"].insert_one({"_id": "keep", "secret": "ledger-private"})
    client.force_login(user_factory(username="mallory"))
    for response in (client.get(f"/sessions/{ledger.slug}/?tab=database&collection=people"),
                     client.get(f"/sessions/{ledger.slug}/db/?collection=people", **HX),
                     client.get(f"/sessions/{ledger.slug}/db/export?collection=people"),
                     post(client, ledger, "documents/delete", collection="people", id='"keep"'),
                     post(client, ledger, "collections/drop", collection="people", confirm="people")):
        assert response.status_code == 404 and b"ledger-private" not in b"".join(
            getattr(response, "streaming_content", [response.content]))
    assert list(apps_store["app_ledger"]["people"].find({})) == [{"_id": "keep", "secret": "ledger-private"}]


def test_the_admin_lists_collections_with_links_to_the_tab(client, ledger, apps_store, user_factory):
    from databases.provisioning import app_database_ensure

    row = app_database_ensure(app=ledger)
    apps_store["app_ledger"]["orders"].insert_many([{"n": 1}, {"n": 2}])
    client.force_login(user_factory(username="root", is_staff=True, is_superuser=True))
    listing = client.get("/admin/databases/appdatabase/")
    assert listing.status_code == 200 and "app_ledger" in text(listing) and ledger.owner.username in text(listing)
    page = client.get(f"/admin/databases/appdatabase/{row.pk}/collections/")
    assert page.status_code == 200
    assert f'href="/sessions/{ledger.slug}/?tab=database&amp;collection=orders"' in page.content.decode()
    assert re.search(r">orders</a></td> <td>2</td>", text(page))
    # App users are edited in the admin too.
    from accounts import services as accounts

    member, _ = accounts.app_member_create(app=ledger, username="bob")
    change = client.get(f"/admin/accounts/appmember/{member.pk}/change/")
    assert change.status_code == 200 and 'name="is_active"' in change.content.decode()
    client.force_login(ledger.owner)  # not staff: no admin
    assert client.get(f"/admin/databases/appdatabase/{row.pk}/collections/").status_code == 302
