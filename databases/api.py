"""An app's MongoDB database over the JSON API, with the page's checks (the same services).

Bodies and filters are Extended JSON (`{"$oid": …}`, `{"$date": …}`), read with bson.json_util
rather than a schema, so an `_id` or a date round-trips; answers are relaxed Extended JSON.
Every operation first checks the caller may touch the app (`app_for_user`: owner or MGX admin,
anyone else 404) and opens only that app's `app_<slug>` database."""
from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import StreamingHttpResponse
from ninja import Field, Router, Schema, Status

from core.api import ApiError, errors
from core.streams import in_thread
from sessions_app.selectors import app_for_user

from . import checks, selectors, services

router = Router(tags=["app databases"])

BASE = "/apps/{slug}/db/collections"
JSON_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": True, "description": "Extended JSON (relaxed or canonical)."}}}}}


class CollectionOut(Schema):
    name: str
    count: int
    size: int | None = Field(None, description="Bytes, as the store reports them.")
    browsable: bool = Field(description="False for a name MGX does not open (see the collection name rules).")


class CollectionsOut(Schema):
    database: str
    collections: list[CollectionOut]


class CollectionIn(Schema):
    name: str


class DocumentsOut(Schema):
    documents: list[dict]
    total: int
    skip: int
    limit: int


class DocumentOut(Schema):
    document: dict


class IndexOut(Schema):
    name: str
    keys: list[list]
    unique: bool
    ttl_seconds: int | None


class IndexesOut(Schema):
    indexes: list[IndexOut]


class IndexCreatedOut(Schema):
    name: str


class ImportOut(Schema):
    imported: int
    skipped: dict[str, str] = Field(description='{"<line number>": "why"} of the lines left out.')


def _body(request, *, what="body"):
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError("The request body is too large.", status=413, code="too_large") from None
    return checks.parse(raw, what=what, default=None, kind=None)


def _object_body(request, *, what="body") -> dict:
    value = _body(request, what=what)
    if not isinstance(value, dict):
        raise ApiError(f"The {what} must be a JSON object.", status=400)
    return value


@router.get(BASE, response={200: CollectionsOut, **errors(404, 503)}, url_name="db_collections",
            summary="The app's collections", description="Names, document counts and sizes of `app_<slug>`.")
def collections(request, slug: str):
    app = app_for_user(user=request.user, slug=slug)
    from .store import app_database_name

    return {"database": app_database_name(app=app), "collections": selectors.collections_list(app=app)}


@router.post(BASE, response={201: CollectionOut, **errors(400, 404, 409, 422, 503)}, url_name="db_collection_create",
             summary="Create a collection", openapi_extra=JSON_BODY)
def collection_create(request, slug: str):
    app = app_for_user(user=request.user, slug=slug)
    name = _object_body(request).get("name")
    services.collection_create(app=app, name=name)
    return Status(201, {"name": name, "count": 0, "size": 0, "browsable": True})


@router.delete(BASE + "/{name}", response={204: None, **errors(400, 404, 503)}, url_name="db_collection_drop",
               summary="Drop a collection",
               description="`?confirm=<name>` must repeat the collection's name; its documents go with it.")
def collection_drop(request, slug: str, name: str, confirm: str = ""):
    app = app_for_user(user=request.user, slug=slug)
    services.collection_drop(app=app, name=name, confirm=confirm)
    return Status(204, None)


@router.get(BASE + "/{name}/documents", response={200: DocumentsOut, **errors(400, 404, 422, 503)},
            url_name="db_documents", summary="A page of documents",
            description='`filter` (e.g. `{"email": {"$regex": "x"}}`), `sort` (`{"field": -1}`) and `projection` '
                        f'are Extended JSON; `limit` ≤ {selectors.PAGE_MAX}. `$where`, `$function` and '
                        '`$accumulator` are refused.')
def documents(request, slug: str, name: str, filter: str = "", sort: str = "", projection: str = "",
              limit: int = selectors.PAGE_DEFAULT, skip: int = 0):
    app = app_for_user(user=request.user, slug=slug)
    page = selectors.documents_list(app=app, collection=name, filter=filter, sort=sort, projection=projection,
                                    limit=limit, skip=skip)
    return {**page, "documents": selectors.as_plain(page["documents"])}


@router.post(BASE + "/{name}/documents", response={201: DocumentOut, **errors(400, 404, 409, 503)},
             url_name="db_document_insert", summary="Insert a document", openapi_extra=JSON_BODY)
def document_insert(request, slug: str, name: str):
    app = app_for_user(user=request.user, slug=slug)
    new_id = services.document_insert(app=app, collection=name, document=_object_body(request, what="document"))
    doc = selectors.document_get(app=app, collection=name, document_id=new_id)
    return Status(201, {"document": selectors.as_plain(doc)})


ID_HELP = "The `_id`: 24 hex digits for an ObjectId, otherwise its Extended JSON (`\"abc\"`, `5`)."


@router.get(BASE + "/{name}/documents/{id}", response={200: DocumentOut, **errors(400, 404, 503)},
            url_name="db_document", summary="One document", description=ID_HELP)
def document(request, slug: str, name: str, id: str):
    app = app_for_user(user=request.user, slug=slug)
    doc = selectors.document_get(app=app, collection=name, document_id=checks.document_id(id))
    return {"document": selectors.as_plain(doc)}


@router.put(BASE + "/{name}/documents/{id}", response={200: DocumentOut, **errors(400, 404, 409, 503)},
            url_name="db_document_replace", summary="Replace a document",
            description=ID_HELP + " The body is the whole new document (its `_id` may be left out).",
            openapi_extra=JSON_BODY)
def document_replace(request, slug: str, name: str, id: str):
    app = app_for_user(user=request.user, slug=slug)
    doc = services.document_replace(app=app, collection=name, document_id=checks.document_id(id),
                                    document=_object_body(request, what="document"))
    return {"document": selectors.as_plain(doc)}


@router.delete(BASE + "/{name}/documents/{id}", response={204: None, **errors(400, 404, 503)},
               url_name="db_document_delete", summary="Delete a document", description=ID_HELP)
def document_delete(request, slug: str, name: str, id: str):
    app = app_for_user(user=request.user, slug=slug)
    services.document_delete(app=app, collection=name, document_id=checks.document_id(id))
    return Status(204, None)


@router.get(BASE + "/{name}/indexes", response={200: IndexesOut, **errors(400, 404, 503)},
            url_name="db_indexes", summary="The collection's indexes")
def indexes(request, slug: str, name: str):
    app = app_for_user(user=request.user, slug=slug)
    return {"indexes": selectors.indexes_list(app=app, collection=name)}


@router.post(BASE + "/{name}/indexes", response={201: IndexCreatedOut, **errors(400, 404, 409, 422, 503)},
             url_name="db_index_create", summary="Create an index",
             description='`{"keys": {"email": 1}, "unique": true, "ttl_seconds": null}`. A unique index that '
                         "existing documents break is a 409 with the server's message. The embedded store "
                         "names indexes itself and may not keep a compound index's directions.",
             openapi_extra=JSON_BODY)
def index_create(request, slug: str, name: str):
    app = app_for_user(user=request.user, slug=slug)
    body = _object_body(request)
    unique = body.get("unique", False)
    if not isinstance(unique, bool):
        raise ApiError("`unique` is true or false.", status=422, code="invalid", fields={"unique": ["not a boolean"]})
    made = services.index_create(app=app, collection=name, keys=body.get("keys"), unique=unique,
                                 ttl_seconds=body.get("ttl_seconds"))
    return Status(201, {"name": made})


@router.delete(BASE + "/{name}/indexes", response={204: None, **errors(400, 404, 503)},
               url_name="db_index_drop", summary="Drop an index", description="`?index=<name>` as listed.")
def index_drop(request, slug: str, name: str, index: str = ""):
    app = app_for_user(user=request.user, slug=slug)
    services.index_drop(app=app, collection=name, name=index)
    return Status(204, None)


@router.get(BASE + "/{name}/export", response={200: None, **errors(400, 404, 503)}, url_name="db_export",
            summary="Export as JSON lines", description="One canonical Extended JSON document a line.")
def export(request, slug: str, name: str):
    app = app_for_user(user=request.user, slug=slug)
    lines = selectors.export_lines(app=app, collection=name)
    # in_thread: Django's ASGI handler would read a synchronous iterator whole first (core.streams).
    response = StreamingHttpResponse(in_thread(lines), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.jsonl"'
    return response


@router.post(BASE + "/{name}/import", response={200: ImportOut, **errors(400, 404, 413, 503)}, url_name="db_import",
             summary="Import JSON lines",
             description=f"The body is JSON lines (at most {services.IMPORT_MAX_BYTES:,} bytes). A bad line imports "
                         "nothing (400, each bad line in `fields`) unless `?skip_bad=true`.",
             openapi_extra={"requestBody": {"required": True, "content": {"application/x-ndjson": {
                 "schema": {"type": "string"}}}}})
def documents_import(request, slug: str, name: str, skip_bad: bool = False):
    app = app_for_user(user=request.user, slug=slug)
    try:
        data = request.body
    except RequestDataTooBig:
        raise ApiError(f"An import takes at most {services.IMPORT_MAX_BYTES:,} bytes.", status=413,
                       code="too_large") from None
    try:
        result = services.documents_import(app=app, collection=name, data=data, skip_bad=skip_bad)
    except services.ImportRefused as exc:
        raise ApiError(str(exc), status=400, fields={f"line {n}": [why] for n, why in exc.lines}) from None
    return {"imported": result.imported, "skipped": {str(n): why for n, why in result.skipped}}
