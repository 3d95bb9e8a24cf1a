"""Reads of an app's database: its collections, a page of documents, one document, the
indexes, an export. Every function takes the app (already checked by the caller with
`sessions_app.selectors.app_for_user`) and opens only its database (`store.app_database`)."""
from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

from bson import json_util
from pymongo.errors import OperationFailure

from core.errors import MgxError, NotFound

from . import checks
from .checks import IMPORT_MAX_BYTES
from .store import app_database, app_database_name

PAGE_DEFAULT = 20
PAGE_MAX = 100
SKIP_MAX = 1_000_000
# Display: relaxed ({"$oid": …}, {"$date": "…Z"}); export: canonical, so a round trip keeps
# every type (an Int64 stays an Int64, a double 1.0 stays a double).
RELAXED = json_util.RELAXED_JSON_OPTIONS
CANONICAL = json_util.CANONICAL_JSON_OPTIONS


def as_json(value, *, indent=None) -> str:
    return json_util.dumps(value, json_options=RELAXED, indent=indent, ensure_ascii=False)


def as_plain(value):
    """A document as JSON-ready Python (relaxed Extended JSON), for the API."""
    import json

    return json.loads(json_util.dumps(value, json_options=RELAXED))


def collections_list(*, app) -> list[dict]:
    """[{name, count, size, browsable}], by name; `size` in bytes as the store reports it."""
    out = []
    with app_database(app=app) as db:
        for name in sorted(db.list_collection_names()):
            if name.startswith("system."):
                continue
            try:
                stats = db.command("collStats", name)
                count, size = int(stats.get("count", 0)), int(stats.get("size", 0))
            except OperationFailure:
                count, size = db[name].estimated_document_count(), None
            out.append({"name": name, "count": count, "size": size, "browsable": checks.is_collection_name(name)})
    return out


def _collection(db, name: str):
    checks.collection_name(name)
    if name not in db.list_collection_names():
        raise NotFound(f"There is no collection “{name}” in this app's database.")
    return db[name]


def documents_list(*, app, collection: str, filter=None, sort=None, projection=None, limit=PAGE_DEFAULT,
                   skip=0) -> dict:
    """One page: {documents, total (matching the filter), skip, limit}. `filter`, `sort` and
    `projection` are Extended JSON text, checked by `checks`."""
    query = checks.filter_(filter)
    order = checks.sort(sort)
    fields = checks.projection(projection)
    limit = max(1, min(int(limit or PAGE_DEFAULT), PAGE_MAX))
    skip = max(0, min(int(skip or 0), SKIP_MAX))
    with app_database(app=app) as db:
        coll = _collection(db, collection)
        cursor = coll.find(query, fields).skip(skip).limit(limit)
        if order:
            cursor = cursor.sort(order)
        documents = list(cursor)
        total = coll.count_documents(query)
    return {"documents": documents, "total": total, "skip": skip, "limit": limit}


def document_get(*, app, collection: str, document_id) -> dict:
    with app_database(app=app) as db:
        found = _collection(db, collection).find_one({"_id": document_id})
    if found is None:
        raise NotFound("There is no document with that _id (it may have been deleted).")
    return found


def indexes_list(*, app, collection: str) -> list[dict]:
    """[{name, keys: [[field, direction]], unique, ttl_seconds}] as the server reports them."""
    with app_database(app=app) as db:
        raw = list(_collection(db, collection).list_indexes())
    return [{"name": ix["name"], "keys": [[k, v] for k, v in dict(ix["key"]).items()],
             "unique": bool(ix.get("unique", False)),
             "ttl_seconds": int(ix["expireAfterSeconds"]) if "expireAfterSeconds" in ix else None} for ix in raw]


def index_names(*, app, collection: str) -> set[str]:
    return {ix["name"] for ix in indexes_list(app=app, collection=collection)}


def export_lines(*, app, collection: str) -> Iterator[str]:
    """The collection as JSON lines (canonical Extended JSON), one document a line. The
    collection is checked before the first line, so a refusal is an answer, not a cut stream."""
    with app_database(app=app) as db:
        _collection(db, collection)

    def lines():
        with app_database(app=app) as db:
            for doc in db[collection].find({}).sort([("_id", 1)]):
                yield json_util.dumps(doc, json_options=CANONICAL) + "\n"

    return lines()


# ------------------------------------------------------------------ the Database tab

QUERY_KEYS = ("collection", "filter", "sort", "projection", "skip", "limit")


def database_query(source) -> dict:
    """The Database tab's query (collection, filter, sort, projection, skip, limit) from a
    request's GET or POST, stripped."""
    return {key: (source.get(key) or "").strip() for key in QUERY_KEYS}


def database_tab(*, app, query: dict, error=None, notice=None, drafts=None) -> dict:
    """What `databases/panel.html#panel` needs (the session page's Database tab and this app's
    own endpoints): the collections, the page of documents the query asks for, the indexes. A
    refusal while reading (a bad filter, the store down) is shown in the panel."""
    context = {"app": app, "q": query, "error": error, "notice": notice, "drafts": drafts or {},
               "database": app_database_name(app=app), "collections": [], "page": None, "indexes": [],
               "page_max": PAGE_MAX, "rule": checks.COLLECTION_RULE,
               "import_max": IMPORT_MAX_BYTES}
    try:
        context["collections"] = collections_list(app=app)
        name = query.get("collection")
        if name:
            page = documents_list(app=app, collection=name, filter=query["filter"], sort=query["sort"],
                                 projection=query["projection"], limit=_int(query["limit"], 20),
                                 skip=_int(query["skip"], 0))
            page["rows"] = [{"id": checks.id_text(d.get("_id")) if "_id" in d else "",
                             "json": as_json({"_id": d["_id"], **d} if "_id" in d else d, indent=2)} for d in page["documents"]]
            page["first"] = page["skip"] + 1 if page["rows"] else 0
            page["last"] = page["skip"] + len(page["rows"])
            page["prev"] = max(0, page["skip"] - page["limit"]) if page["skip"] else None
            page["next"] = page["last"] if page["last"] < page["total"] else None
            for key in ("prev", "next"):
                if page[key] is not None:
                    page[f"{key}_qs"] = urlencode({k: v for k, v in {**query, "skip": page[key]}.items() if v != ""})
            context["page"] = page
            context["indexes"] = indexes_list(app=app, collection=name)
    except MgxError as exc:
        context["error"] = context["error"] or str(exc)
        context["read_failed"] = True
    return context


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default
