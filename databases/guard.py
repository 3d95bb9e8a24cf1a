"""The apps' MongoDB guard: an authenticating MongoDB wire-protocol layer between app containers
and the embedded apps' store.

The embedded store (nx-27017, a MongoDB wire-protocol server on SQLite files) has no users: any
client that reaches it may open every database. So it listens on loopback only, for MGX (the
Database tab, provisioning), and app containers reach this guard instead, where they reached the
store before (the Docker bridge address, `host.docker.internal:$MGX_APPS_MONGO_PORT`). With the
URL MGX hands an app (`databases.provisioning.app_mongo_url`: user `app_<slug>`, its password
derived from MGX's secret key, authSource `app_<slug>`), a connection opens `app_<slug>` and
nothing else:

- SCRAM-SHA-256 (saslStart/saslContinue) is the only way in; before it only the handshake
  (hello/isMaster, answered here) and the authentication itself answer. `speculativeAuthenticate`
  and `compression` in a hello are ignored, so drivers authenticate with a plain saslStart and
  do not compress; OP_COMPRESSED is refused, legacy OP_QUERY is taken only as a connection's
  first message, for the handshake.
- Every command is read whole, because the store dispatches on the *presence* of keys anywhere
  in a command, in a fixed order (`nx_27017/handler.py`): `{"count": "x", "dropDatabase":
  "app_other"}` is a dropDatabase there. A command passes only if its name (first key) is on the
  allow-list for the connection's state, its `$db` is the app's database (server-level commands:
  `admin`), and no other key of it is one the store dispatches on. Cursor ids are the store's
  counters and its getMore does not check which database a cursor belongs to, so getMore and
  killCursors name only cursors this app was given (tracked from the store's replies, per
  connection that opened them, so they die with it as they do in the store); sessions (lsid) are
  claimed by the first app that uses one. listDatabases answers the app's own database only;
  pipelines whose `$out`/`$merge`/`$lookup`/`$unionWith`/`$graphLookup` name another database,
  and renames across databases, are refused.
- The app's rights are MongoDB's `readWrite` on its database (what an app user gets on a real
  MongoDB with MGX_APPS_MONGO_AUTH): no dropDatabase, no server administration.

Refusals answer as MongoDB does (`ok: 0`, code 13 `Unauthorized`, a message naming the command
and database) and the connection stays; what is not the protocol (a bad length, an unknown
opcode or section, invalid BSON) closes it. Refusals are logged with the app, the command and
the database, never a payload or a secret.

Run by `./mgx up` and the test fixtures (`mgx_site.cli.procs`, process `apps-mongo-guard`):
    python -m databases.guard --host 172.17.0.1 --port 27018 --upstream 127.0.0.1:27019
One asyncio process; each client connection gets its own connection to the store once it has
authenticated, and messages are passed on as they came (only endSessions, renameCollection and
a listDatabases reply are rewritten).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import logging
import os
import re
import secrets
import struct
from datetime import datetime, timezone
from typing import Any, Callable

import bson
from bson import Binary
from bson.codec_options import CodecOptions, DatetimeConversion

log = logging.getLogger("mgx.apps_mongo_guard")

OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG = 1, 2004, 2012, 2013
HEADER = struct.Struct("<iiii")
INT32 = struct.Struct("<i")
MORE_TO_COME, EXHAUST_ALLOWED = 1 << 1, 1 << 16

# What the store advertises (nx_27017.wire_protocol), so drivers size their batches the same.
MIN_WIRE_VERSION, MAX_WIRE_VERSION = 17, 25
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_WRITE_BATCH_SIZE = 100_000
STORE_MAX_MESSAGE_BYTES = 48_000_000
SERVER_VERSION = "7.0.0"
# Before authentication only a hello or a SASL step is legitimate: a few hundred bytes.
PRE_AUTH_MAX_MESSAGE_BYTES = 64 * 1024
# A reply from the store larger than this is not one (its own messages stay under 48 MB plus a
# batch of documents of at most 16 MB each).
MAX_REPLY_BYTES = 256 * 1024 * 1024

UNAUTHORIZED, AUTHENTICATION_FAILED, MECHANISM_UNAVAILABLE = 13, 18, 334
MECHANISM = "SCRAM-SHA-256"
# RFC 7677's minimum, and what drivers accept at least. The password is 256 random bits, so
# iterations add nothing against guessing; they cost each new user a PBKDF2 here (cached).
SCRAM_ITERATIONS = 4096
APP_DATABASE = re.compile(r"app_[a-z0-9][a-z0-9-]{0,62}")

HELLO = frozenset({"hello", "isMaster", "ismaster"})
LOCAL = frozenset({"ping", "buildInfo", "connectionStatus"})  # answered here, on admin or its own db
# readWrite on the app's own database (the command's `$db`).
ON_OWN_DATABASE = frozenset({
    "find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "distinct",
    "getMore", "killCursors", "create", "drop", "createIndexes", "dropIndexes", "listIndexes",
    "listCollections", "dbStats", "collStats", "explain",
    "listSearchIndexes", "createSearchIndexes", "updateSearchIndex", "dropSearchIndex",
})
# Server-level commands drivers send to `admin`, each checked against the app below.
ON_ADMIN = frozenset({"listDatabases", "endSessions", "commitTransaction", "abortTransaction",
                      "renameCollection", "bulkWrite"})
# Every key the store's dispatcher tests for (nx_27017 0.8.1 handler.py and server.py): none may
# ride along in a command other than as its name, or the store would run that instead.
STORE_DISPATCH_KEYS = frozenset({
    "hello", "Hello", "isMaster", "ismaster", "startSession", "commitTransaction", "abortTransaction",
    "endSessions", "insert", "create", "drop", "dropDatabase", "dropdatabase", "renameCollection",
    "createIndexes", "dropIndexes", "createIndex", "dropIndex", "createSearchIndexes",
    "createsearchindexes", "updateSearchIndex", "updatesearchindex", "dropSearchIndex",
    "dropsearchindex", "delete", "bulkWrite", "upload", "openDownloadStream", "findAndModify",
    "update", "find", "count", "distinct", "aggregate", "listCollections", "serverStatus",
    "buildInfo", "dbStats", "dbstats", "collStats", "collstats", "listDatabases", "listdatabases",
    "listIndexes", "listindexes", "listSearchIndexes", "listsearchindexes", "explain", "getMore",
    "killCursors", "vacuum", "compact", "compactcollection", "validate", "reindex", "reIndex",
    "saslStart", "saslContinue",
})
# Fields of a command that share a name with a dispatch key, where the store tests the
# command's own key first (findAndModify before update, aggregate before explain).
FIELDS = {"findAndModify": frozenset({"update"}), "aggregate": frozenset({"explain"})}
# OP_MSG document sequences (kind 1) each command may carry.
SEQUENCES = {"insert": frozenset({"documents"}), "update": frozenset({"updates"}),
             "delete": frozenset({"deletes"}), "bulkWrite": frozenset({"ops", "nsInfo"})}
NAMES_A_COLLECTION = frozenset({
    "find", "insert", "update", "delete", "findAndModify", "count", "distinct", "killCursors", "create",
    "drop", "createIndexes", "dropIndexes", "listIndexes", "collStats", "listSearchIndexes",
    "createSearchIndexes", "updateSearchIndex", "dropSearchIndex",
})
EXPLAINABLE = frozenset({"find", "aggregate", "count", "distinct", "findAndModify", "update", "delete"})
# Stages that read or write another collection (and may name its database).
FOREIGN_STAGES = ("$out", "$merge", "$lookup", "$unionWith", "$graphLookup")
# Stages about the whole server, never an app's.
SERVER_STAGES = frozenset({"$currentOp", "$listSessions", "$listLocalSessions", "$listSampledQueries",
                           "$shardedDataDistribution", "$querySettings"})
# Replies that hand out a new cursor; only theirs are taken as the app's.
OPENS_CURSORS = frozenset({"find", "aggregate", "listCollections", "listIndexes", "listSearchIndexes"})
MAX_TRACKED_SESSIONS = 200_000
# Dates outside Python's range stay as they came: the store, not the guard, says what it makes of them.
DECODE = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
REFUSALS_LOGGED_PER_CONNECTION = 20


class Garbage(Exception):
    """Not the MongoDB wire protocol: the connection is closed."""


class Refused(Exception):
    def __init__(self, message: str, code: int = UNAUTHORIZED, code_name: str = "Unauthorized"):
        super().__init__(message)
        self.code, self.code_name = code, code_name

    def reply(self) -> dict:
        return {"ok": 0.0, "errmsg": str(self), "code": self.code, "codeName": self.code_name}


class StoreLost(Exception):
    """The store closed the connection or did not answer as the protocol says."""


def _authentication_failed() -> Refused:
    # As MongoDB says it: nothing about whether the user, the database or the proof was wrong.
    return Refused("Authentication failed.", AUTHENTICATION_FAILED, "AuthenticationFailed")


def _unauthorized(db: Any, name: str, why: str = "") -> Refused:
    return Refused(f"not authorized on {db} to execute command {name}" + (f": {why}" if why else ""))


# ---------------------------------------------------------------- SCRAM-SHA-256 (RFC 5802, 7677)

class Scram:
    """The server side of one SCRAM-SHA-256 conversation."""

    def __init__(self, user: str, password: str, client_first: bytes, skip_empty_exchange: bool):
        header, _, bare = _text(client_first).partition(",,")
        if header != "n" or not bare:  # no channel binding, no authorization identity
            raise _authentication_failed()
        attributes = bare.split(",")
        if len(attributes) != 2 or not attributes[0].startswith("n=") or not attributes[1].startswith("r="):
            raise _authentication_failed()
        named = attributes[0][2:].replace("=2C", ",").replace("=3D", "=")
        client_nonce = attributes[1][2:]
        if named != user or not client_nonce:
            raise _authentication_failed()
        self.user, self.password, self.skip_empty_exchange = user, password, skip_empty_exchange
        self.nonce = client_nonce + base64.b64encode(secrets.token_bytes(24)).decode()
        self.salt = hmac.new(password.encode(), b"mgx apps-mongo guard salt", hashlib.sha256).digest()[:16]
        self.client_first_bare = bare
        self.server_first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={SCRAM_ITERATIONS}"
        self.proved = False

    def keys(self) -> tuple[bytes, bytes]:
        return _salted_keys(self.password, self.salt)

    def verify(self, client_final: bytes, keys: tuple[bytes, bytes]) -> bytes:
        """The server's final message, once the client's proof holds."""
        text = _text(client_final)
        without_proof, _, proof = text.rpartition(",p=")
        if without_proof != f"c=biws,r={self.nonce}":
            raise _authentication_failed()
        try:
            proof_bytes = base64.b64decode(proof, validate=True)
        except ValueError:
            raise _authentication_failed() from None
        stored_key, server_key = keys
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        if len(proof_bytes) != len(signature):
            raise _authentication_failed()
        client_key = bytes(a ^ b for a, b in zip(proof_bytes, signature))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            raise _authentication_failed()
        self.proved = True
        return b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest())


_KEY_CACHE: dict[tuple[str, bytes], tuple[bytes, bytes]] = {}


def _salted_keys(password: str, salt: bytes) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) of a password: one PBKDF2 per app, then from the cache."""
    cached = _KEY_CACHE.get((password, salt))
    if cached is None:
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        cached = (hashlib.sha256(client_key).digest(), hmac.new(salted, b"Server Key", hashlib.sha256).digest())
        if len(_KEY_CACHE) >= 4096:
            _KEY_CACHE.pop(next(iter(_KEY_CACHE)))
        _KEY_CACHE[(password, salt)] = cached
    return cached


def _text(payload: Any) -> str:
    if not isinstance(payload, bytes):
        raise _authentication_failed()
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _authentication_failed() from None


# ---------------------------------------------------------------- messages

def op_msg(response_to: int, document: dict, request_id: int = 0) -> bytes:
    body = struct.pack("<IB", 0, 0) + bson.encode(document)
    return HEADER.pack(16 + len(body), request_id, response_to, OP_MSG) + body


def op_reply(response_to: int, document: dict) -> bytes:
    body = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(document)
    return HEADER.pack(16 + len(body), 0, response_to, OP_REPLY) + body


class Message:
    """One OP_MSG from a client: its command (the one kind-0 section, decoded) and where its
    document sequences (kind 1) lie in the message."""

    __slots__ = ("raw", "request_id", "flags", "command", "sequences")

    def __init__(self, raw: bytes, request_id: int):
        self.raw, self.request_id = raw, request_id
        if len(raw) < 16 + 4 + 1 + 5:
            raise Garbage("OP_MSG too short")
        (self.flags,) = struct.unpack_from("<I", raw, 16)
        if self.flags & ~(MORE_TO_COME | EXHAUST_ALLOWED):
            raise Garbage(f"OP_MSG flags {self.flags:#x} (checksums and unknown bits are not accepted)")
        self.command: dict | None = None
        self.sequences: dict[str, tuple[int, int]] = {}
        pos, end = 20, len(raw)
        while pos < end:
            kind = raw[pos]
            pos += 1
            if pos + 4 > end:
                raise Garbage("section cut short")
            (size,) = INT32.unpack_from(raw, pos)
            if kind == 0:
                if self.command is not None:
                    raise Garbage("two command sections")
                if size < 5 or pos + size > end:
                    raise Garbage("bad document length")
                try:
                    self.command = bson.decode(raw[pos:pos + size], DECODE)
                except Exception:  # InvalidBSON, and anything the decoder raises on a crafted document
                    raise Garbage("invalid BSON") from None
                pos += size
            elif kind == 1:
                if size < 5 or pos + size > end:
                    raise Garbage("bad document sequence length")
                stop = pos + size
                name_end = raw.find(b"\x00", pos + 4, stop)
                if name_end < 0:
                    raise Garbage("document sequence without a name")
                try:
                    name = raw[pos + 4:name_end].decode("utf-8")
                except UnicodeDecodeError:
                    raise Garbage("document sequence name is not UTF-8") from None
                if name in self.sequences:
                    raise Garbage("document sequence given twice")
                at = name_end + 1
                while at < stop:  # the documents must fill the section exactly
                    if at + 5 > stop:
                        raise Garbage("document sequence cut short")
                    (length,) = INT32.unpack_from(raw, at)
                    if length < 5 or at + length > stop or raw[at + length - 1] != 0:
                        raise Garbage("bad document in a sequence")
                    at += length
                self.sequences[name] = (name_end + 1, stop)
                pos = stop
            else:
                raise Garbage(f"section kind {kind}")
        if self.command is None:
            raise Garbage("no command section")

    def sequence(self, name: str) -> list[dict]:
        if name not in self.sequences:
            return []
        at, stop = self.sequences[name]
        try:
            return list(bson.decode_iter(self.raw[at:stop], DECODE))
        except Exception:
            raise Refused(f"the {name} documents are not valid BSON", 2, "BadValue") from None


def _documents(raw: bytes, start: int):
    """(name, type, value offset) of each element of the BSON document at `start`, without
    decoding values: the store's replies are read only for a cursor id, and may hold 16 MB."""
    (length,) = INT32.unpack_from(raw, start)
    pos, end = start + 4, start + length - 1
    while pos < end:
        kind = raw[pos]
        name_end = raw.index(b"\x00", pos + 1)
        value = name_end + 1
        if kind in (0x01, 0x09, 0x11, 0x12):
            size = 8
        elif kind == 0x10:
            size = 4
        elif kind == 0x08:
            size = 1
        elif kind == 0x07:
            size = 12
        elif kind == 0x13:
            size = 16
        elif kind in (0x06, 0x0A, 0xFF, 0x7F):
            size = 0
        elif kind in (0x02, 0x0D, 0x0E):
            size = 4 + INT32.unpack_from(raw, value)[0]
        elif kind in (0x03, 0x04, 0x0F):
            size = INT32.unpack_from(raw, value)[0]
        elif kind == 0x05:
            size = 5 + INT32.unpack_from(raw, value)[0]
        elif kind == 0x0B:
            size = raw.index(b"\x00", raw.index(b"\x00", value) + 1) + 1 - value
        elif kind == 0x0C:
            size = 4 + INT32.unpack_from(raw, value)[0] + 12
        else:
            raise ValueError(f"BSON type {kind}")
        yield raw[pos + 1:name_end], kind, value
        pos = value + size


def reply_cursor_id(reply: bytes) -> int | None:
    """cursor.id of an OP_MSG reply, if it has one."""
    try:
        if len(reply) < 26 or reply[20] != 0:
            return None
        for name, kind, at in _documents(reply, 21):
            if name == b"cursor" and kind == 0x03:
                for inner, inner_kind, value in _documents(reply, at):
                    if inner == b"id":
                        if inner_kind == 0x12:
                            return struct.unpack_from("<q", reply, value)[0]
                        if inner_kind == 0x10:
                            return INT32.unpack_from(reply, value)[0]
                return None
    except (ValueError, IndexError, struct.error):
        return None
    return None


# ---------------------------------------------------------------- what a command may do

def foreign_database(node: Any, own: str) -> str | None:
    """The first database other than `own` that a pipeline's `$out`, `$merge`, `$lookup`,
    `$unionWith` or `$graphLookup` names (nested pipelines included), or a server-wide stage."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key in SERVER_STAGES:
                    return key
                if key in FOREIGN_STAGES:
                    for named in _databases_named(value):
                        if named != own:
                            return str(named)
                if isinstance(value, (dict, list)):
                    stack.append(value)
    return None


def _databases_named(spec: Any):
    """Every `db` named in a stage's argument (`{db, coll}`, `into: {db, coll}`, `from: {db, coll}`)."""
    stack = [spec]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "db" in item:
                yield item["db"]
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))


def _session_key(lsid: Any) -> bytes:
    """What the store knows a session by: the 16 bytes of a driver's `lsid: {id: UUID}`. Any
    other shape is refused, so two spellings can never name one session."""
    if (isinstance(lsid, dict) and len(lsid) == 1 and isinstance(lsid.get("id"), Binary)
            and lsid["id"].subtype == 4 and len(lsid["id"]) == 16):
        return bytes(lsid["id"])
    raise Refused("lsid must be {id: <UUID>}", 2, "BadValue")


class Guard:
    """The state the connections of one process share: which cursors and sessions are whose."""

    def __init__(self, *, upstream: tuple[str, int], password_for: Callable[[str], str],
                 max_message_bytes: int = STORE_MAX_MESSAGE_BYTES):
        self.upstream = upstream
        self.password_for = password_for  # slug -> the app's password
        self.max_message_bytes = min(max_message_bytes, STORE_MAX_MESSAGE_BYTES)
        self.cursors: dict[str, dict[int, Connection]] = {}  # app database -> cursor id -> opened on
        self.sessions: dict[bytes, str] = {}  # lsid -> app database
        self.connection_ids = itertools.count(1)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(self, reader, writer).serve()


class Connection:
    def __init__(self, guard: Guard, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.guard, self.reader, self.writer = guard, reader, writer
        self.id = next(guard.connection_ids)
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.database: str | None = None  # app_<slug> once authenticated
        self.scram: Scram | None = None
        self.store: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.cursors: set[int] = set()  # opened on this connection (the store drops them with it)
        self.messages = 0
        self.refusals = 0

    # -------------------------------------------------------------- the loop

    async def serve(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(16)
                length, request_id, _, opcode = HEADER.unpack(header)
                limit = self.guard.max_message_bytes if self.database else PRE_AUTH_MAX_MESSAGE_BYTES
                if length <= 16 or length > limit:
                    raise Garbage(f"message length {length} (at most {limit} here)")
                raw = header + await self.reader.readexactly(length - 16)
                self.messages += 1
                if opcode == OP_MSG:
                    await self.on_msg(Message(raw, request_id))
                elif opcode == OP_QUERY:
                    await self.on_query(raw, request_id)
                elif opcode == OP_COMPRESSED:
                    self.refused("OP_COMPRESSED", "-", "compression was not negotiated")
                    await self.send(op_msg(request_id, Refused("compression is not supported here").reply()))
                else:
                    raise Garbage(f"opcode {opcode}")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Garbage as exc:
            log.warning("closed connection %s from %s (%s): not the MongoDB protocol: %s",
                        self.id, self.peer, self.database or "not authenticated", exc)
        except StoreLost as exc:
            log.warning("closed connection %s from %s (%s): the apps' store: %s", self.id, self.peer,
                        self.database, exc)
        except Exception:  # a bug here must end this connection only, never the guard
            log.exception("closed connection %s from %s after an error in the guard", self.id, self.peer)
        finally:
            self.close()
            if self.refusals > REFUSALS_LOGGED_PER_CONNECTION:
                log.warning("connection %s from %s (%s): %d refusals in all", self.id, self.peer,
                            self.database, self.refusals)

    def close(self) -> None:
        owned = self.guard.cursors.get(self.database or "", {})
        for cursor_id in self.cursors:
            owned.pop(cursor_id, None)
        self.cursors.clear()
        if self.store is not None:
            self.store[1].close()
            self.store = None
        self.writer.close()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def refused(self, name: str, db: Any, why: str) -> None:
        self.refusals += 1
        if self.refusals <= REFUSALS_LOGGED_PER_CONNECTION:
            log.warning("refused %s on %s for %s from %s: %s", name, db, self.database or "an unauthenticated client",
                        self.peer, why)

    # -------------------------------------------------------------- OP_QUERY: the handshake only

    async def on_query(self, raw: bytes, request_id: int) -> None:
        try:
            name_end = raw.index(b"\x00", 20)
            collection = raw[20:name_end].decode("utf-8")
            at = name_end + 1 + 8
            (size,) = INT32.unpack_from(raw, at)
            query = bson.decode(raw[at:at + size], DECODE)
        except Exception:
            raise Garbage("malformed OP_QUERY") from None
        if "$query" in query and isinstance(query["$query"], dict):
            query = query["$query"]
        name = next(iter(query), "")
        if self.messages != 1 or name not in HELLO or not collection.endswith(".$cmd"):
            self.refused(f"OP_QUERY {name}", collection, "legacy OP_QUERY is taken only for the first handshake")
            await self.send(op_reply(request_id, Refused("OP_QUERY is only accepted for the connection's first hello").reply()))
            return
        await self.send(op_reply(request_id, self.hello(query, name)))

    def hello(self, command: dict, name: str) -> dict:
        # No speculativeAuthenticate and no compression in the answer: drivers then authenticate
        # with saslStart and send plain messages.
        reply = {"isWritablePrimary" if name == "hello" else "ismaster": True}
        if command.get("helloOk"):
            reply["helloOk"] = True
        reply.update({
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE, "maxMessageSizeBytes": self.guard.max_message_bytes,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE, "localTime": datetime.now(timezone.utc),
            "logicalSessionTimeoutMinutes": 30, "connectionId": self.id,
            "minWireVersion": MIN_WIRE_VERSION, "maxWireVersion": MAX_WIRE_VERSION, "readOnly": False,
        })
        if "saslSupportedMechs" in command:
            reply["saslSupportedMechs"] = [MECHANISM]
        reply["ok"] = 1.0
        return reply

    # -------------------------------------------------------------- OP_MSG

    async def on_msg(self, message: Message) -> None:
        command = message.command
        name = next(iter(command), "")
        db = command.get("$db")
        try:
            if name in HELLO:
                answer = self.hello(command, name)
            elif name in ("saslStart", "saslContinue"):
                answer = await self.authenticate(name, command)
            elif self.database is None:
                if name == "endSessions":
                    # A driver closing a client that never authenticated (a monitor, a probe):
                    # nothing of it reached the store, so there is nothing to end.
                    answer = {"ok": 1.0}
                else:
                    raise Refused(f"command {name} requires authentication")
            else:
                answer = await self.gate(message, name, db)
                if answer is None:
                    return  # passed on; the store's reply went to the client
        except Refused as refusal:
            self.refused(name, db, str(refusal))
            answer = refusal.reply()
        if not message.flags & MORE_TO_COME:
            await self.send(op_msg(message.request_id, answer))

    async def authenticate(self, name: str, command: dict) -> dict:
        db = command.get("$db")
        if self.database is not None:
            raise Refused(f"this connection is already authenticated as {self.database}")
        if name == "saslStart":
            self.scram = None
            mechanism = command.get("mechanism")
            if mechanism != MECHANISM:
                raise Refused(f"Received authentication for mechanism {mechanism} which is not enabled",
                              MECHANISM_UNAVAILABLE, "MechanismUnavailable")
            if not isinstance(db, str) or not APP_DATABASE.fullmatch(db):
                raise _authentication_failed()
            options = command.get("options") if isinstance(command.get("options"), dict) else {}
            try:
                self.scram = Scram(db, self.guard.password_for(db.removeprefix("app_")), command.get("payload"),
                                   bool(options.get("skipEmptyExchange")))
            except Refused:
                raise _authentication_failed() from None
            return {"conversationId": 1, "done": False, "payload": self.scram.server_first.encode(), "ok": 1.0}
        scram, self.scram = self.scram, None  # one saslContinue per step; a failure starts over
        if scram is None or db != scram.user or command.get("conversationId", 1) != 1:
            raise _authentication_failed()
        if scram.proved:  # the empty exchange that ends a conversation without skipEmptyExchange
            self.authenticated(scram.user)
            return {"conversationId": 1, "done": True, "payload": b"", "ok": 1.0}
        try:
            keys = await asyncio.to_thread(scram.keys)  # a PBKDF2 the first time: off the loop
            final = scram.verify(command.get("payload"), keys)
        except Refused:
            raise _authentication_failed() from None
        if scram.skip_empty_exchange:
            self.authenticated(scram.user)
            return {"conversationId": 1, "done": True, "payload": final, "ok": 1.0}
        self.scram = scram
        return {"conversationId": 1, "done": False, "payload": final, "ok": 1.0}

    def authenticated(self, database: str) -> None:
        self.database = database
        self.guard.cursors.setdefault(database, {})

    # -------------------------------------------------------------- an authenticated command

    async def gate(self, message: Message, name: str, db: Any) -> dict | None:
        """Refuse, answer here (a dict), or pass the command on to the store (None)."""
        command, own = message.command, self.database
        if not isinstance(db, str):
            raise Refused("a command must name its database ($db)", 2, "BadValue")
        if name in ON_OWN_DATABASE:
            if db != own:
                raise _unauthorized(db, name, f"this connection opens {own} only")
        elif name in ON_ADMIN:
            if db != "admin":
                raise _unauthorized(db, name, "it runs on admin")
        elif name in LOCAL:
            if db not in (own, "admin"):
                raise _unauthorized(db, name, f"this connection opens {own} only")
        else:
            raise _unauthorized(db, name, "the command is not available to apps")
        smuggled = STORE_DISPATCH_KEYS.intersection(command) - {name} - FIELDS.get(name, frozenset())
        if smuggled:
            raise _unauthorized(db, name, f"it carries the command key(s) {', '.join(sorted(smuggled))}")
        if name in LOCAL:
            return self.local(name)
        if set(message.sequences) - SEQUENCES.get(name, frozenset()):
            raise Refused(f"command {name} does not take the document sequence(s) {', '.join(sorted(message.sequences))}",
                          2, "BadValue")
        if name in NAMES_A_COLLECTION and not (isinstance(command[name], str) and command[name]):
            raise Refused(f"command {name} must name a collection", 2, "BadValue")
        session = self.claim_session(command.get("lsid")) if "lsid" in command else None
        check = getattr(self, f"check_{name}", None)
        outcome = check(message, command, own, session) if check is not None else None
        if isinstance(outcome, dict):
            return outcome
        reply = await self.forward(outcome if isinstance(outcome, bytes) else message.raw,
                                   more_to_come=bool(message.flags & MORE_TO_COME))
        if reply is not None:
            await self.send(self.after(name, command, reply))
        return None

    def local(self, name: str) -> dict:
        if name == "buildInfo":
            return {"version": SERVER_VERSION, "versionArray": [7, 0, 0, 0], "gitVersion": "", "bits": 64,
                    "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE, "ok": 1.0}
        if name == "connectionStatus":
            return {"authInfo": {"authenticatedUsers": [{"user": self.database, "db": self.database}],
                                 "authenticatedUserRoles": [{"role": "readWrite", "db": self.database}]}, "ok": 1.0}
        return {"ok": 1.0}

    def claim_session(self, lsid: Any) -> bytes:
        key = _session_key(lsid)
        owner = self.guard.sessions.get(key)
        if owner is None:
            sessions = self.guard.sessions
            if len(sessions) >= MAX_TRACKED_SESSIONS:
                sessions.pop(next(iter(sessions)))
            sessions[key] = self.database
        elif owner != self.database:
            raise Refused("this session belongs to another app")
        return key

    # Per-command checks: None passes the command on as it came, a dict answers it here, bytes
    # are the message to pass on instead.

    def owns_cursor(self, cursor_id: Any) -> bool:
        """The app was handed this cursor, on a connection to the store that is still open: the
        store drops a connection's cursors with it and, restarted, counts its ids from the start
        again, so an id from a closed connection may be another app's by now."""
        if isinstance(cursor_id, bool) or not isinstance(cursor_id, int):
            return False
        opener = self.guard.cursors[self.database].get(cursor_id)
        if opener is None:
            return False
        if opener.store is None or opener.store[0].at_eof():
            self.forget_cursor(cursor_id)
            return False
        return True

    def check_getMore(self, message, command, own, session):
        if not self.owns_cursor(command["getMore"]):
            raise _unauthorized(own, "getMore", f"cursor {command['getMore']} was not opened by this app")
        if not isinstance(command.get("collection"), str):
            raise Refused("getMore must name the cursor's collection", 2, "BadValue")

    def check_killCursors(self, message, command, own, session):
        ids = command.get("cursors")
        if not isinstance(ids, list) or not ids:
            raise Refused("killCursors needs a list of cursors", 2, "BadValue")
        for cursor_id in ids:
            if not self.owns_cursor(cursor_id):
                raise _unauthorized(own, "killCursors", f"cursor {cursor_id} was not opened by this app")

    def check_aggregate(self, message, command, own, session):
        if not isinstance(command.get("pipeline"), list):
            raise Refused("aggregate needs a pipeline", 2, "BadValue")
        if not isinstance(command["aggregate"], str) and command["aggregate"] != 1:
            raise Refused("aggregate names a collection or 1", 2, "BadValue")
        if (other := foreign_database(command["pipeline"], own)) is not None:
            raise _unauthorized(other, "aggregate", f"the pipeline reaches {other}; this connection opens {own} only")

    def check_findAndModify(self, message, command, own, session):
        if isinstance(command.get("update"), list) and (other := foreign_database(command["update"], own)) is not None:
            raise _unauthorized(other, "findAndModify", f"the update pipeline reaches {other}")

    def check_explain(self, message, command, own, session):
        inner = command["explain"]
        if not isinstance(inner, dict) or next(iter(inner), None) not in EXPLAINABLE:
            raise Refused("explain takes a find, aggregate, count, distinct, findAndModify, update or delete",
                          2, "BadValue")
        if inner.get("$db", own) != own or STORE_DISPATCH_KEYS.intersection(inner) - {next(iter(inner))} - {"update"}:
            raise _unauthorized(inner.get("$db", own), "explain", "the explained command reaches beyond this database")
        if (other := foreign_database(inner, own)) is not None:
            raise _unauthorized(other, "explain", f"the explained pipeline reaches {other}")

    def check_renameCollection(self, message, command, own, session):
        source, target = command["renameCollection"], command.get("to")
        for namespace in (source, target):
            if not (isinstance(namespace, str) and namespace.startswith(own + ".") and len(namespace) > len(own) + 1):
                raise _unauthorized(namespace.split(".", 1)[0] if isinstance(namespace, str) else namespace,
                                    "renameCollection", f"both names must be in {own}")
        # The store renames within the command's $db, by the names' last parts: drivers send this
        # command to admin, so it goes on to the store on the app's own database.
        return op_msg(0, {**command, "$db": own}, request_id=message.request_id)

    def check_bulkWrite(self, message, command, own, session):
        # The store takes nsInfo from the command, else from its document sequence, and reads any
        # entry that is not {ns: "<db>.<coll>"} as the database "test".
        namespaces = command.get("nsInfo", [])
        if not isinstance(namespaces, list):
            raise Refused("bulkWrite's nsInfo is a list", 2, "BadValue")
        for entry in [*namespaces, *message.sequence("nsInfo")]:
            namespace = entry.get("ns") if isinstance(entry, dict) else None
            if not (isinstance(namespace, str) and namespace.startswith(own + ".")):
                raise _unauthorized(namespace.partition(".")[0] if isinstance(namespace, str) else namespace,
                                    "bulkWrite", f"every namespace must be in {own}")

    def check_commitTransaction(self, message, command, own, session):
        if session is None:
            raise Refused("a transaction is finished for a session (lsid)", 2, "BadValue")

    check_abortTransaction = check_commitTransaction

    def check_endSessions(self, message, command, own, session):
        """Only the app's own sessions end; the others are left out (the store ends a session by
        its id whichever database it was used on)."""
        listed = command["endSessions"]
        if not isinstance(listed, list):
            raise Refused("endSessions takes a list of sessions", 2, "BadValue")
        sessions = self.guard.sessions
        mine = []
        for lsid in listed:
            try:
                key = _session_key(lsid)
            except Refused:
                continue
            if sessions.get(key) == own:
                del sessions[key]
                mine.append(lsid)
        if not mine:
            return {"ok": 1.0}
        if len(mine) == len(listed):
            return None
        return op_msg(0, {**command, "endSessions": mine}, request_id=message.request_id)

    # -------------------------------------------------------------- the store

    async def forward(self, raw: bytes, *, more_to_come: bool) -> bytes | None:
        if self.store is None:
            host, port = self.guard.upstream
            try:
                self.store = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=10)
            except (OSError, asyncio.TimeoutError) as exc:
                raise StoreLost(f"no answer at {host}:{port} ({exc})") from None
        reader, writer = self.store
        try:
            writer.write(raw)
            await writer.drain()
            header = await reader.readexactly(16)
            (length,) = INT32.unpack_from(header)
            if length < 16 or length > MAX_REPLY_BYTES:
                raise StoreLost(f"a reply of {length} bytes")
            reply = header + await reader.readexactly(length - 16)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            raise StoreLost(f"connection lost ({type(exc).__name__})") from None
        # The store answers every message; a client that sent moreToCome waits for none.
        return None if more_to_come else reply

    def after(self, name: str, command: dict, reply: bytes) -> bytes:
        """Note the cursors the store handed out (and closed) for this app; filter listDatabases."""
        if name == "getMore":
            if reply_cursor_id(reply) == 0:
                self.forget_cursor(command["getMore"])
        elif name in OPENS_CURSORS:
            cursor_id = reply_cursor_id(reply)
            if cursor_id:
                self.guard.cursors[self.database][cursor_id] = self
                self.cursors.add(cursor_id)
        elif name == "killCursors":
            for cursor_id in command.get("cursors", []):
                self.forget_cursor(cursor_id)
        if name == "listDatabases":
            return self.own_databases_only(reply)
        return reply

    def forget_cursor(self, cursor_id: int) -> None:
        opener = self.guard.cursors[self.database].pop(cursor_id, None)
        if opener is not None:
            opener.cursors.discard(cursor_id)

    def own_databases_only(self, reply: bytes) -> bytes:
        (response_to,) = INT32.unpack_from(reply, 8)
        answer = bson.decode(reply[21:])
        if answer.get("ok") and isinstance(answer.get("databases"), list):
            mine = [d for d in answer["databases"] if isinstance(d, dict) and d.get("name") == self.database]
            answer["databases"] = mine
            if "totalSize" in answer:
                answer["totalSize"] = sum(d.get("sizeOnDisk", 0) for d in mine)
        return op_msg(response_to, answer)


# ---------------------------------------------------------------- the process

async def serve(guard: Guard, host: str, port: int) -> None:
    server = await asyncio.start_server(guard.serve, host, port, reuse_address=True, backlog=512)
    log.info("guarding the apps' store %s:%s on %s:%s (messages up to %d bytes)", *guard.upstream, host, port,
             guard.max_message_bytes)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m databases.guard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True, help="where apps reach it (the Docker bridge address)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the apps' store, host:port (loopback)")
    args = parser.parse_args(argv)
    # The settings give MGX's secret key, which each app's password is derived from.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")
    import django

    django.setup()
    from django.conf import settings

    from .provisioning import (
        app_mongo_password,  # after django.setup(): the settings give the secret key
    )

    host, _, port = args.upstream.rpartition(":")
    guard = Guard(upstream=(host.strip("[]"), int(port)), password_for=lambda slug: app_mongo_password(slug=slug),
                  max_message_bytes=settings.MGX_APPS_MONGO_MAX_MESSAGE_BYTES)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(guard, args.host.strip("[]"), args.port))
    else:
        uvloop.run(serve(guard, args.host.strip("[]"), args.port))


if __name__ == "__main__":
    main()
