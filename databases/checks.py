"""What a user may name and send to an app's database. Everything here refuses with
`core.errors.Invalid` and a message that says what would be accepted.

The database itself is never named by the user: `store.app_database` computes `app_<slug>` from
the app. Collection names are the only namespace input, so they are held to plain ASCII (no
`$`, no NUL, no dots, so no `system.` prefix): `app_x.$cmd`,
`../mgx` or a look-alike in another script never reach the server. Filters, sorts, projections
and documents are Extended JSON (`bson.json_util`), and nothing that runs JavaScript on the
server (`$where`, `$function`, `$accumulator`, a `$code` value) passes, however deeply nested.
"""
from __future__ import annotations

import json
import re

import bson
from bson import json_util
from bson.code import Code
from bson.objectid import ObjectId
from bson.regex import Regex

from core.errors import Invalid

IMPORT_MAX_BYTES = 2 * 1024 * 1024  # below Django's 2.5 MB request-body limit, so the API says it first

COLLECTION_MAX = 120
# No dots at all: a dot is how a namespace names its database (`app_x.$cmd`, `mgx.users`), and
# the apps' embedded store refuses them anyway. Collections with dots made by an app's own code
# (on a real MongoDB) are listed but not opened.
_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
SERVER_JS = frozenset({"$where", "$function", "$accumulator"})
COLLECTION_RULE = (f"Collection names use ASCII letters, digits, “_” and “-” (no dots), start with a letter or “_” "
                   f"and are at most {COLLECTION_MAX} characters.")


def collection_name(name) -> str:
    """`name` if it is a collection name MGX will send to the server, else Invalid."""
    if not isinstance(name, str) or not name:
        raise Invalid("Give the collection a name.", field="collection")
    if len(name) > COLLECTION_MAX or not _COLLECTION.fullmatch(name) or name.lower().startswith("system."):
        raise Invalid(f"“{name[:COLLECTION_MAX]}” is not a collection name MGX accepts. {COLLECTION_RULE}",
                      field="collection")
    return name


def is_collection_name(name: str) -> bool:
    try:
        collection_name(name)
    except Invalid:
        return False
    return True


def parse(text, *, what: str, default=None, kind=dict):
    """Extended JSON text (relaxed or canonical) as Python/BSON values; blank text is `default`.
    Bad JSON says where; a value of the wrong shape says what was expected."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return default
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"The {what} is not UTF-8 text.", field=what) from None
    try:
        value = json_util.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"The {what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                      field=what) from None
    except (bson.errors.BSONError, TypeError, ValueError, KeyError, OverflowError) as exc:
        raise Invalid(f"The {what} is not valid Extended JSON: {exc}.", field=what) from None
    if kind is not None and not isinstance(value, kind):
        raise Invalid(f"The {what} must be a JSON object ({{…}}).", field=what)
    no_server_js(value, what=what)
    return value


_REGEX_FLAGS = (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL), ("x", re.VERBOSE))


def filter_(text) -> dict:
    """A query filter. json_util reads `{"$regex": "x", "$options": "i"}` as a BSON regex value;
    in a filter the user meant the operator, which both MongoDB and the embedded store take."""
    return _regex_as_operator(parse(text, what="filter", default={}))


def _regex_as_operator(value):
    if isinstance(value, Regex):
        options = "".join(ch for ch, bit in _REGEX_FLAGS if value.flags & bit)
        return {"$regex": value.pattern, **({"$options": options} if options else {})}
    if isinstance(value, dict):
        return {key: _regex_as_operator(sub) for key, sub in value.items()}
    if isinstance(value, list):
        return [_regex_as_operator(sub) for sub in value]
    return value


def no_server_js(value, *, what: str) -> None:
    """Refuses server-side JavaScript anywhere in `value`: an operator key or a `$code` value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Code):
            raise Invalid(f"The {what} contains JavaScript code ($code); MGX does not run JavaScript on the "
                          "database server.", field=what)
        if isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and key.strip().lower() in SERVER_JS:
                    raise Invalid(f"The {what} uses {key.strip()}, which runs JavaScript on the database server; "
                                  "MGX refuses it. Use query operators (or $expr) instead.", field=what)
                stack.append(sub)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def document(text_or_value, *, what: str = "document") -> dict:
    """A document to insert or store: an object whose field names do not start with `$`."""
    doc = parse(text_or_value, what=what) if isinstance(text_or_value, (str, bytes)) else text_or_value
    if not isinstance(doc, dict):
        raise Invalid(f"The {what} must be a JSON object ({{…}}).", field=what)
    no_server_js(doc, what=what)
    bad = [key for key in doc if not isinstance(key, str) or key.startswith("$") or "\x00" in key]
    if bad:
        raise Invalid(f"The {what}'s field names cannot start with “$” ({bad[0]!s}): the editor takes the whole "
                      "document, not an update.", field=what)
    return doc


def sort(text) -> list[tuple[str, int]]:
    spec = parse(text, what="sort", default={})
    out = []
    for key, direction in spec.items():
        if key.startswith("$") or direction not in (1, -1) or isinstance(direction, bool):
            raise Invalid('The sort is {"field": 1 or -1, …}.', field="sort")
        out.append((key, direction))
    return out


def projection(text) -> dict | None:
    spec = parse(text, what="projection", default={})
    for key, keep in spec.items():
        if key.startswith("$") or keep not in (0, 1):
            raise Invalid('The projection is {"field": 1 or 0, …} (true and false work too).', field="projection")
    return {key: bool(keep) for key, keep in spec.items()} or None


def document_id(text: str):
    """An `_id` as the URL carries it: 24 hex digits are an ObjectId; otherwise its Extended JSON
    (`"abc"`, `5`, `{"$oid": …}`); text that is not JSON is that string."""
    text = (text or "").strip()
    if not text:
        raise Invalid("Which document? Give its _id.", field="id")
    if re.fullmatch(r"[0-9a-fA-F]{24}", text):
        return ObjectId(text)
    try:
        value = json_util.loads(text)
    except (ValueError, TypeError, bson.errors.BSONError, KeyError):
        return text
    no_server_js(value, what="id")
    return value


def id_text(value) -> str:
    """The inverse of `document_id`, for links and forms."""
    if isinstance(value, ObjectId):
        return str(value)
    return json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS)
