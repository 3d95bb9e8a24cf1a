"""The apps' MongoDB guard (databases/guard.py) on the wire: what answers before authentication,
the messages it takes and those that close a connection, SCRAM-SHA-256 as a client computes it,
sessions and server commands, and the Node driver the Next.js template uses.

Everything here talks to the real guard process the session fixtures start, in front of the real
apps' store, over TCP on the Docker bridge address, as app containers do."""
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess

import bson
import pymongo.errors
import pytest
from bson import SON, Binary
from django.conf import settings

from databases import isolation
from deployments.environment import app_environment

from .clients import UNAUTHORIZED, connect, node_probe_holds, refused, seen_from_host, wrong_password

pytestmark = pytest.mark.django_db

OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG, OP_INSERT = 1, 2004, 2012, 2013, 2002


# ---------------------------------------------------------------- a client on the wire

def guard_socket() -> socket.socket:
    sock = socket.create_connection((settings.MGX_INTERNAL_HOST, settings.MGX_APPS_MONGO_PORT), timeout=10)
    sock.settimeout(10)
    return sock


def message(opcode: int, body: bytes, request_id: int = 7) -> bytes:
    return struct.pack("<iiii", 16 + len(body), request_id, 0, opcode) + body


def msg(document: dict, *, flags: int = 0, sections: bytes = b"") -> bytes:
    return message(OP_MSG, struct.pack("<IB", flags, 0) + bson.encode(document) + sections)


def query(collection: str, document: dict) -> bytes:
    return message(OP_QUERY, struct.pack("<i", 0) + collection.encode() + b"\x00" + struct.pack("<ii", 0, -1)
                   + bson.encode(document))


def read_reply(sock: socket.socket) -> tuple[int, dict] | None:
    """(opcode, document) of the next reply, or None when the guard closed the connection."""
    header = _read(sock, 16)
    if header is None:
        return None
    length, _, _, opcode = struct.unpack("<iiii", header)
    body = _read(sock, length - 16)
    assert body is not None
    start = 20 if opcode == OP_REPLY else 5
    return opcode, bson.decode(body[start:])


def _read(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def call(sock: socket.socket, document: dict) -> dict:
    sock.sendall(msg(document))
    got = read_reply(sock)
    assert got is not None, f"the guard closed the connection on {next(iter(document))}"
    return got[1]


def closes(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def scram_login(sock: socket.socket, user: str, password: str) -> None:
    """SCRAM-SHA-256 as RFC 5802/7677 and MongoDB's drivers do it, checking the server's proof too."""
    nonce = base64.b64encode(os.urandom(24)).decode()
    first_bare = f"n={user},r={nonce}"
    started = call(sock, {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,," + first_bare.encode(),
                          "options": {"skipEmptyExchange": True}, "$db": user})
    assert started["ok"] == 1 and not started["done"], started
    server_first = started["payload"].decode()
    attributes = dict(part.split("=", 1) for part in server_first.split(","))
    assert attributes["r"].startswith(nonce) and int(attributes["i"]) >= 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attributes["s"]), int(attributes["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    without_proof = f"c=biws,r={attributes['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, hashlib.sha256).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    done = call(sock, {"saslContinue": 1, "conversationId": started["conversationId"],
                       "payload": f"{without_proof},p={proof}".encode(), "$db": user})
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest())
    assert done["ok"] == 1 and done["done"] and done["payload"] == expected, done


@pytest.fixture
def alpha_app(app_factory):
    app = app_factory(name="Alpha")
    app_environment(app=app, stage="dev")
    return app


@pytest.fixture
def alpha_socket(alpha_app):
    with guard_socket() as sock:
        scram_login(sock, "app_alpha", isolation.app_mongo_password(app=alpha_app))
        yield sock


# ---------------------------------------------------------------- before authentication

def test_before_authentication_only_the_handshake_answers(app_factory):
    with guard_socket() as sock:
        hello = call(sock, {"hello": 1, "helloOk": True, "saslSupportedMechs": "app_alpha.app_alpha",
                            "speculativeAuthenticate": {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=x,r=y",
                                                        "db": "app_alpha"},
                            "compression": ["zstd", "zlib", "snappy"], "$db": "admin"})
        assert hello["ok"] == 1 and hello["isWritablePrimary"] and hello["maxWireVersion"] >= 17
        assert hello["saslSupportedMechs"] == ["SCRAM-SHA-256"]
        assert "speculativeAuthenticate" not in hello and "compression" not in hello
        assert hello["maxMessageSizeBytes"] == settings.MGX_APPS_MONGO_MAX_MESSAGE_BYTES
        for command in ({"ping": 1, "$db": "admin"}, {"listDatabases": 1, "$db": "admin"},
                        {"find": "users", "$db": "app_alpha"}, {"dbStats": 1, "$db": "app_alpha"},
                        {"saslContinue": 1, "conversationId": 1, "payload": b"c=biws", "$db": "app_alpha"},
                        {"saslStart": 1, "mechanism": "PLAIN", "payload": b"\x00app_alpha\x00x", "$db": "$external"},
                        {"saslStart": 1, "mechanism": "SCRAM-SHA-1", "payload": b"n,,n=app_alpha,r=abc", "$db": "app_alpha"}):
            answer = call(sock, command)
            assert answer["ok"] == 0 and answer["code"] in (UNAUTHORIZED, 18, 334), (command, answer)
        assert call(sock, {"isMaster": 1, "$db": "admin"})["ismaster"] is True  # still talking


def test_legacy_op_query_is_taken_only_as_a_connections_first_hello():
    with guard_socket() as sock:
        sock.sendall(query("admin.$cmd", {"isMaster": 1, "helloOk": True}))
        opcode, reply = read_reply(sock)
        assert opcode == OP_REPLY and reply["ok"] == 1 and reply["ismaster"] and reply["helloOk"]
        sock.sendall(query("admin.$cmd", {"isMaster": 1}))
        opcode, reply = read_reply(sock)
        assert opcode == OP_REPLY and reply["ok"] == 0 and reply["code"] == UNAUTHORIZED
        assert call(sock, {"hello": 1, "$db": "admin"})["ok"] == 1
    for first in (query("app_bravo.secrets", {}), query("admin.$cmd", {"listDatabases": 1})):
        with guard_socket() as sock:
            sock.sendall(first)
            opcode, reply = read_reply(sock)
            assert opcode == OP_REPLY and reply["ok"] == 0 and reply["code"] == UNAUTHORIZED


def _bad_bson() -> bytes:
    document = bytearray(bson.encode({"hello": 1, "$db": "admin"}))
    document[4] = 0x99  # no such BSON type
    return bytes(document)


GARBAGE = {
    "a negative length": struct.pack("<iiii", -5, 1, 0, OP_MSG),
    "a length shorter than a header": struct.pack("<iiii", 12, 1, 0, OP_MSG),
    "a message over the size allowed before authentication": struct.pack("<iiii", 1 << 20, 1, 0, OP_MSG),
    "an opcode drivers no longer send": message(OP_INSERT, b"\x00" * 4 + b"app_alpha.x\x00" + bson.encode({"x": 1})),
    "an OP_MSG with a checksum": msg({"hello": 1, "$db": "admin"}, flags=1) + b"\x00" * 4,
    "an OP_MSG with unknown required flags": msg({"hello": 1, "$db": "admin"}, flags=1 << 4),
    "a section of kind 2": msg({"hello": 1, "$db": "admin"}, sections=b"\x02" + struct.pack("<I", 1)
                                + bson.encode({"x": 1})),
    "two command sections": msg({"hello": 1, "$db": "admin"}, sections=b"\x00" + bson.encode({"ping": 1})),
    "a document sequence whose documents overrun it": msg(
        {"insert": "x", "$db": "app_alpha"},
        sections=b"\x01" + struct.pack("<i", 4 + 10 + 8) + b"documents\x00" + struct.pack("<i", 40) + b"\x00" * 4),
    "invalid BSON": message(OP_MSG, struct.pack("<IB", 0, 0) + _bad_bson()),
    "a truncated command": message(OP_MSG, struct.pack("<IB", 0, 0) + bson.encode({"hello": 1})[:-3]),
    "random bytes": bytes(range(7, 250)),
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_what_is_not_the_protocol_closes_the_connection_and_the_guard_goes_on(garbage):
    with guard_socket() as sock:
        sock.sendall(GARBAGE[garbage])
        assert closes(sock), garbage
    with guard_socket() as sock:
        assert call(sock, {"hello": 1, "$db": "admin"})["ok"] == 1


def test_an_authenticated_message_over_the_size_limit_closes_the_connection(alpha_socket):
    cap = settings.MGX_APPS_MONGO_MAX_MESSAGE_BYTES
    alpha_socket.sendall(struct.pack("<iiii", cap + 1, 1, 0, OP_MSG))  # the header says enough
    assert closes(alpha_socket)


def test_compressed_messages_are_refused_and_run_nothing(alpha_socket, apps_store):
    inner = msg({"insert": "planted", "documents": [{"x": 1}], "$db": "app_alpha"})[16:]
    compressed = struct.pack("<iiB", OP_MSG, len(inner), 0) + inner  # compressor 0: noop
    alpha_socket.sendall(message(OP_COMPRESSED, compressed))
    opcode, reply = read_reply(alpha_socket)
    assert opcode == OP_MSG and reply["ok"] == 0 and reply["code"] == UNAUTHORIZED
    assert "planted" not in apps_store["app_alpha"].list_collection_names()
    assert call(alpha_socket, {"ping": 1, "$db": "admin"})["ok"] == 1


def test_document_sequences_only_where_the_command_takes_them(alpha_socket, apps_store):
    """The store reads every kind-1 section of an insert as documents to insert, whatever its
    name, and takes updates/deletes/ops from such sections on other commands."""
    documents = bson.encode({"x": 1})
    stray = b"\x01" + struct.pack("<i", 4 + len(b"deletes\x00") + len(documents)) + b"deletes\x00" + documents
    alpha_socket.sendall(msg({"find": "users", "$db": "app_alpha"}, sections=stray))
    _, reply = read_reply(alpha_socket)
    assert reply["ok"] == 0
    good = b"\x01" + struct.pack("<i", 4 + len(b"documents\x00") + len(documents)) + b"documents\x00" + documents
    alpha_socket.sendall(msg({"insert": "notes", "$db": "app_alpha"}, sections=good))
    _, reply = read_reply(alpha_socket)
    assert reply["ok"] == 1 and reply["n"] == 1
    assert apps_store["app_alpha"]["notes"].count_documents({}) == 1


# ---------------------------------------------------------------- authenticated

def test_server_commands_and_what_readwrite_does_not_cover_are_refused_and_logged_without_secrets(
        app_factory, layout):
    app = app_factory(name="Alpha")
    url = app_environment(app=app, stage="dev")["MONGODB_URL"]
    with connect(url) as client:
        admin, mine = client.admin, client["app_alpha"]
        for command in ("serverStatus", "currentOp", "killAllSessions", "getParameter", "startSession", "logout",
                        "hostInfo", "getCmdLineOpts", "shutdown", "fsync", "replSetGetStatus", "usersInfo"):
            refused(lambda: admin.command(command))
        for command in (SON([("dropDatabase", 1)]), SON([("createUser", "x"), ("pwd", "y"), ("roles", [])]),
                        SON([("validate", "users")]), SON([("compact", "users")]), SON([("reIndex", "users")]),
                        SON([("vacuum", 1)]), SON([("upload", "fs")]), SON([("listDatabases", 1)]),
                        SON([("createIndex", "users")]), SON([("collMod", "users")]), SON([("serverStatus", 1)]),
                        SON([("explain", SON([("find", "users"), ("$db", "app_bravo")]))])):
            refused(lambda: mine.command(command))
        refused(lambda: admin.command("find", "users"))
        assert mine.command("ping")["ok"] == 1 and admin.command("buildInfo")["version"]
        assert client.admin.command("connectionStatus")["authInfo"]["authenticatedUsers"] == [
            {"user": "app_alpha", "db": "app_alpha"}]
    logged = layout.logfile("apps-mongo-guard").read_text()
    assert "refused serverStatus on admin for app_alpha" in logged
    assert "refused dropDatabase on app_alpha for app_alpha" in logged
    assert isolation.app_mongo_password(app=app) not in logged and settings.SECRET_KEY not in logged


def test_a_session_belongs_to_the_app_that_used_it_first(app_factory):
    """The store knows a session by its id alone, whichever database it was used on."""
    alpha, bravo = app_factory(name="Alpha"), app_factory(name="Bravo")
    app_environment(app=alpha, stage="dev")
    with connect(app_environment(app=bravo, stage="dev")["MONGODB_URL"]) as b, b.start_session() as session:
        b["app_bravo"]["secrets"].insert_one({"s": 1}, session=session)
        lsid = session.session_id
        with guard_socket() as sock:
            scram_login(sock, "app_alpha", isolation.app_mongo_password(app=alpha))
            for taken, code in ((lsid, UNAUTHORIZED), ({"$oid": lsid["id"].hex()}, 2), ({"id": lsid["id"].hex()}, 2),
                                ({"id": Binary(bytes(lsid["id"]), 3)}, 2)):
                answer = call(sock, {"find": "notes", "lsid": taken, "$db": "app_alpha"})
                assert answer["ok"] == 0 and answer["code"] == code, (taken, answer)
            answer = call(sock, {"commitTransaction": 1, "lsid": lsid, "txnNumber": bson.Int64(1), "autocommit": False,
                                 "$db": "admin"})
            assert answer["ok"] == 0 and answer["code"] == UNAUTHORIZED
            assert call(sock, {"endSessions": [lsid], "$db": "admin"})["ok"] == 1  # not A's: left out
            own = {"id": Binary(os.urandom(16), 4)}
            assert call(sock, {"find": "notes", "lsid": own, "$db": "app_alpha"})["ok"] == 1
        assert b["app_bravo"]["secrets"].find_one({"s": 1}, session=session)["s"] == 1


# ---------------------------------------------------------------- the Node driver (the Next.js template's)

def test_the_node_driver_authenticates_through_the_guard_and_keeps_to_its_database(app_factory, node_driver, apps_store):
    """On this host (the same probe runs inside an app container in test_isolation)."""
    app, other = app_factory(name="Alpha"), app_factory(name="Bravo")
    env = app_environment(app=app, stage="dev")
    app_environment(app=other, stage="dev")
    apps_store["app_bravo"]["secrets"].insert_one({"s": 1})
    url = seen_from_host(env["MONGODB_URL"])
    done = subprocess.run(["node", str(node_driver / "probe.cjs")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DRIVER_DIR": str(node_driver), "MONGODB_URL": url,
                               "MONGODB_DB": env["MONGODB_DB"], "OTHER_DB": "app_bravo", "WRONG_URL": wrong_password(url)})
    assert done.returncode == 0, done.stderr
    node_probe_holds(json.loads(done.stdout.strip().splitlines()[-1]), own="app_alpha")
    assert apps_store["app_bravo"]["secrets"].count_documents({}) == 1


def test_a_cursor_from_before_the_store_restarted_opens_nothing(app_factory, layout, backing_services):
    """The store counts cursor ids from the start again when it restarts, and drops a connection's
    cursors with it: an id an app was handed before may be another app's cursor after, even
    while the app's connection that opened it stays open."""
    from mgx_site.cli import procs

    alpha, bravo = app_factory(name="Alpha"), app_factory(name="Bravo")
    app_environment(app=bravo, stage="dev")
    store = backing_services["apps-mongo"]

    def restart():
        procs.stop(layout, store)
        procs.start(layout, store)

    restart()  # so bravo's cursor below is the store's first
    password = isolation.app_mongo_password(app=bravo)
    with guard_socket() as opened_on, guard_socket() as later:
        scram_login(opened_on, "app_bravo", password)
        assert call(opened_on, {"insert": "old", "documents": [{"n": i} for i in range(10)], "$db": "app_bravo"})["ok"] == 1
        found = call(opened_on, {"find": "old", "batchSize": 2, "$db": "app_bravo"})
        before = found["cursor"]["id"]
        assert before
        restart()  # `opened_on` stays open, idle
        with connect(app_environment(app=alpha, stage="dev")["MONGODB_URL"]) as a:
            a["app_alpha"]["secrets"].insert_many([{"secret": i} for i in range(10)])
            theirs = a["app_alpha"]["secrets"].find({}, batch_size=2)
            next(theirs), next(theirs)
            assert theirs.cursor_id == before  # the same id, now alpha's
            scram_login(later, "app_bravo", password)
            for sock in (later, opened_on):
                answer = call(sock, {"getMore": bson.Int64(before), "collection": "old", "$db": "app_bravo"})
                assert answer["ok"] == 0 and answer["code"] == UNAUTHORIZED, answer
            assert len(list(theirs)) == 8


def test_a_client_bulk_write_keeps_to_the_apps_database(app_factory, apps_store):
    from pymongo import InsertOne, UpdateOne

    alpha, bravo = app_factory(name="Alpha"), app_factory(name="Bravo")
    app_environment(app=bravo, stage="dev")
    with connect(app_environment(app=alpha, stage="dev")["MONGODB_URL"]) as a:
        done = a.bulk_write([InsertOne(namespace="app_alpha.notes", document={"n": 1}),
                             UpdateOne(namespace="app_alpha.notes", filter={"n": 1}, update={"$set": {"n": 2}})])
        assert done.inserted_count == 1 and apps_store["app_alpha"]["notes"].find_one()["n"] == 2
        for namespace in ("app_bravo.planted", "test.planted", "admin.planted"):
            with pytest.raises(pymongo.errors.ClientBulkWriteException) as caught:
                a.bulk_write([InsertOne(namespace="app_alpha.notes", document={"n": 3}),
                              InsertOne(namespace=namespace, document={"planted": True})])
            assert caught.value.error.code == UNAUTHORIZED
        mine = a.admin
        for ns_info in ({"ns": "app_alpha.notes"}, "app_alpha.notes", [{"ns": ""}], [{"x": 1}], ["app_alpha.notes"]):
            with pytest.raises(pymongo.errors.OperationFailure):
                mine.command(SON([("bulkWrite", 1), ("ops", [{"insert": 0, "document": {"planted": True}}]),
                                  ("nsInfo", ns_info)]))
    assert "planted" not in apps_store["app_bravo"].list_collection_names()
    assert apps_store["app_alpha"]["notes"].count_documents({}) == 1
    assert "test" not in apps_store.list_database_names()
