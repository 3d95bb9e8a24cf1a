"""Writes to an app's database: collections, documents, indexes, imports. As in selectors, the
caller has checked the user may touch `app`; only `app_<slug>` is opened (store.app_database).
Bad input raises `core.errors.Invalid` before anything is sent, so it changes nothing."""
from __future__ import annotations

from dataclasses import dataclass, field

from bson.objectid import ObjectId
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure

from core.announce import announce
from core.errors import Conflict, Invalid, NotFound, TooLarge

from . import checks
from .checks import IMPORT_MAX_BYTES
from .selectors import _collection, index_names
from .store import _server_message, app_database

IMPORT_MAX_LINES = 20_000
TTL_MAX = 10 * 365 * 24 * 3600


def _changed(app, *, action: str, collection: str) -> None:
    """Write, then send: the open Database tab (and anyone watching the app) hears of it."""
    announce(slug=app.slug, kind="database.changed", data={"action": action, "collection": collection})


def collection_create(*, app, name: str) -> None:
    checks.collection_name(name)
    with app_database(app=app) as db:
        if name in db.list_collection_names():
            raise Conflict(f"A collection named “{name}” already exists.", field="collection")
        try:
            db.create_collection(name)
        except CollectionInvalid:
            raise Conflict(f"A collection named “{name}” already exists.", field="collection") from None
    _changed(app, action="collection_created", collection=name)


def collection_drop(*, app, name: str, confirm: str) -> None:
    """Drops the collection and its documents; `confirm` must be the name, typed."""
    checks.collection_name(name)
    if (confirm or "").strip() != name:
        raise Invalid(f"Type the collection's name “{name}” to confirm; nothing was dropped.", field="confirm")
    with app_database(app=app) as db:
        _collection(db, name)
        db.drop_collection(name)
    _changed(app, action="collection_dropped", collection=name)


def document_insert(*, app, collection: str, document) -> object:
    """Inserts one document (Extended JSON text or a dict); returns its `_id`."""
    doc = checks.document(document)
    with app_database(app=app) as db:
        inserted = _collection(db, collection).insert_one(doc).inserted_id
    _changed(app, action="document_inserted", collection=collection)
    return inserted


def document_replace(*, app, collection: str, document_id, document) -> dict:
    """Replaces the whole document (the editor's Save). Replacement rather than `$set`: the
    apps' embedded store keeps a datetime as a date only on insert and replace."""
    doc = checks.document(document)
    if "_id" in doc and doc["_id"] != document_id:
        raise Invalid("The _id cannot be changed; insert a new document instead.", field="document")
    doc.pop("_id", None)
    with app_database(app=app) as db:
        coll = _collection(db, collection)
        if coll.replace_one({"_id": document_id}, doc).matched_count == 0:
            raise NotFound("There is no document with that _id (it may have been deleted).")
        saved = coll.find_one({"_id": document_id})
    _changed(app, action="document_replaced", collection=collection)
    return saved


def document_delete(*, app, collection: str, document_id) -> None:
    with app_database(app=app) as db:
        if _collection(db, collection).delete_one({"_id": document_id}).deleted_count == 0:
            raise NotFound("There is no document with that _id (it may have been deleted).")
    _changed(app, action="document_deleted", collection=collection)


def index_keys(spec) -> list[tuple[str, int]]:
    """Index fields from `{"a": 1, "b": -1}`, `[["a", 1]]` or the page's `a:1, b:-1` / `a, b`."""
    pairs = []
    if isinstance(spec, str):
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            name, _, direction = part.partition(":")
            direction = direction.strip() or "1"
            if direction not in ("1", "-1"):
                raise Invalid(f"“{part}”: a direction is 1 or -1.", field="keys")
            pairs.append((name.strip(), int(direction)))
    elif isinstance(spec, dict):
        pairs = list(spec.items())
    elif isinstance(spec, list):
        pairs = [tuple(p) if isinstance(p, (list, tuple)) and len(p) == 2 else (None, None) for p in spec]
    for name, direction in pairs:
        if (not isinstance(name, str) or not name or name.startswith("$") or "\x00" in name or len(name) > 200
                or direction not in (1, -1) or isinstance(direction, bool)):
            raise Invalid('Index fields are {"field": 1 or -1, …} (on the page: “email:1, created_at:-1”).',
                          field="keys")
    if not pairs:
        raise Invalid("Name at least one field to index.", field="keys")
    return pairs


def index_create(*, app, collection: str, keys, unique: bool = False, ttl_seconds=None) -> str:
    """Creates an index; returns the name the server gave it. Existing documents that break a
    unique index make it fail with the server's message."""
    pairs = index_keys(keys)
    options = {"unique": bool(unique)}
    if ttl_seconds not in (None, ""):
        try:
            ttl = int(ttl_seconds)
        except (TypeError, ValueError):
            raise Invalid("The TTL is a whole number of seconds.", field="ttl_seconds") from None
        if not 0 <= ttl <= TTL_MAX or len(pairs) != 1:
            raise Invalid(f"A TTL index has one (date) field and 0–{TTL_MAX} seconds.", field="ttl_seconds")
        options["expireAfterSeconds"] = ttl
    with app_database(app=app) as db:
        coll = _collection(db, collection)
        try:
            made = coll.create_index(pairs, **options)
        except (OperationFailure,) as exc:
            message = _server_message(exc)
            if unique and ("unique" in message.lower() or "duplicate" in message.lower() or exc.code == 11000):
                raise Conflict(f"Existing documents break the unique index; the server said: {message}",
                               field="keys") from None
            raise
    _changed(app, action="index_created", collection=collection)
    return made


def index_drop(*, app, collection: str, name: str) -> None:
    # Only a name the server itself lists goes back to it: an index name is passed through to
    # the store, and the embedded one builds statements from it.
    if name == "_id_":
        raise Invalid("The _id index cannot be dropped.", field="name")
    if name not in index_names(app=app, collection=collection):
        raise NotFound(f"There is no index “{name}” on this collection.")
    with app_database(app=app) as db:
        db[collection].drop_index(name)
    _changed(app, action="index_dropped", collection=collection)


@dataclass
class ImportResult:
    imported: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


class ImportRefused(Invalid):
    """Bad lines and the user did not choose to skip them: nothing was imported."""

    def __init__(self, lines: list[tuple[int, str]]):
        shown = "; ".join(f"line {n}: {why}" for n, why in lines[:5])
        more = f" (and {len(lines) - 5} more)" if len(lines) > 5 else ""
        super().__init__(f"Nothing was imported: {len(lines)} bad line{'s' if len(lines) != 1 else ''} — {shown}{more}. "
                         "Fix them, or choose to skip bad lines.", field="file")
        self.lines = lines


def _line_error(exc) -> str:
    return exc.message if hasattr(exc, "message") and isinstance(exc.message, str) else str(exc)


def documents_import(*, app, collection: str, data: bytes, skip_bad: bool = False) -> ImportResult:
    """JSON lines (relaxed or canonical Extended JSON, one document a line; blank lines ignored).
    Without `skip_bad`, one bad line (unparsable, or refused by the server, e.g. a duplicate
    _id) imports nothing; with it, the good lines go in and the bad ones are listed."""
    if len(data) > IMPORT_MAX_BYTES:
        raise TooLarge(f"The file is {len(data):,} bytes; an import takes at most {IMPORT_MAX_BYTES:,}.", field="file")
    checks.collection_name(collection)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8 text.", field="file") from None
    docs, lines, bad = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(docs) + len(bad) >= IMPORT_MAX_LINES:
            raise TooLarge(f"An import takes at most {IMPORT_MAX_LINES:,} lines.", field="file")
        try:
            doc = checks.document(line, what=f"line {number}")
        except Invalid as exc:
            bad.append((number, _line_error(exc)))
            continue
        # An _id chosen now, so a failed all-or-nothing import can take back what went in.
        doc.setdefault("_id", ObjectId())
        docs.append(doc)
        lines.append(number)
    if bad and not skip_bad:
        raise ImportRefused(bad)
    result = ImportResult(skipped=list(bad))
    if not docs:
        with app_database(app=app) as db:
            _collection(db, collection)
        return result
    with app_database(app=app) as db:
        coll = _collection(db, collection)
        try:
            coll.insert_many(docs, ordered=not skip_bad)
            result.imported = len(docs)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            failed = {e["index"] for e in errors}
            refused = [(lines[e["index"]], e.get("errmsg", "refused by the server")) for e in errors]
            if not skip_bad:
                went_in = [d["_id"] for i, d in enumerate(docs) if i < exc.details.get("nInserted", 0)]
                if went_in:
                    coll.delete_many({"_id": {"$in": went_in}})
                raise ImportRefused(refused) from None
            result.imported = len(docs) - len(failed)
            result.skipped = sorted(result.skipped + refused)
    if result.imported:
        _changed(app, action="documents_imported", collection=collection)
    return result
