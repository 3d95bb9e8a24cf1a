"""The authorization matrix (issue 9): every route of the URL conf and every websocket route,
for five kinds of caller, with the answer each must get.

The routes are read from `get_resolver()` and `websocket_urlpatterns`, never listed by hand: a
route with no entry in ROUTES or WEBSOCKETS fails `test_every_route_has_a_decision`, so nothing
lands without someone deciding who may use it. Adding a route is one line in a table below.

Callers: anonymous; another MGX user (a stranger to the app); a user of this app (an app-only
`AppMember`, logged in through the app's own login page, holding a token of the app's client);
the app's owner; an MGX admin. HTML routes are called with the browser session, `/api/` routes
with each caller's bearer token from the real provider. A refused write must also change
nothing: the workspace, the git history and the records are compared before and after.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from .digest import files_digest

ANON, STRANGER, APP_USER, OWNER, ADMIN = "anonymous", "stranger", "app user", "owner", "admin"
CALLERS = (ANON, STRANGER, APP_USER, OWNER, ADMIN)
SAFE = {"GET", "HEAD", "OPTIONS"}


# ---------------------------------------------------------------- what an answer may be

def _to_login(response) -> bool:
    return response.status_code in (301, 302) and "login" in response.get("Location", "")


def LOGIN(r):  # noqa: N802  (the names read as the table's words)
    """Asked to log in: a redirect to a login page, or 401 from the JSON API."""
    return _to_login(r) or r.status_code == 401


def NOT_FOUND(r):  # noqa: N802
    """The app's existence is not theirs to learn."""
    return r.status_code == 404


def REFUSED(r):  # noqa: N802
    return LOGIN(r) or r.status_code in (401, 403, 404)


def ALLOWED(r):  # noqa: N802
    """Past the authorization: any answer but a refusal or a crash (bad input may be 4xx)."""
    return not REFUSED(r) and r.status_code < 500


def status(*codes):
    def check(r):
        return r.status_code in codes and not _to_login(r)
    check.__doc__ = f"exactly {codes}"
    return check


# Profiles: the usual rows of the matrix.
OWNED = {ANON: LOGIN, STRANGER: NOT_FOUND, APP_USER: REFUSED, OWNER: ALLOWED, ADMIN: ALLOWED}
SIGNED_IN = {ANON: LOGIN, STRANGER: ALLOWED, APP_USER: REFUSED, OWNER: ALLOWED, ADMIN: ALLOWED}
PUBLIC = dict.fromkeys(CALLERS, ALLOWED)
# The JSON API on one app: nobody and a token of an app's client are 401, a stranger 404.
STAFF = {ANON: LOGIN, STRANGER: REFUSED, APP_USER: REFUSED, OWNER: REFUSED, ADMIN: ALLOWED}
# The JSON API, exactly: no credential or an app's token 401, a stranger 404, a non-admin 403.
OWNED_API = {ANON: status(401), STRANGER: status(404), APP_USER: status(401), OWNER: ALLOWED, ADMIN: ALLOWED}
SIGNED_IN_API = {**OWNED_API, STRANGER: ALLOWED}
ADMIN_API = {ANON: status(401), STRANGER: status(403), APP_USER: status(401), OWNER: status(403), ADMIN: ALLOWED}


def everyone(check):
    """A session or an MGX token confers nothing here (client-authenticated or token-only)."""
    return dict.fromkeys(CALLERS, check)


@dataclass
class Route:
    """One row: methods → profile, how callers authenticate, and how to build the request.

    `request(method, ctx, caller)` returns Client kwargs (query, data, content_type); it may use
    `ctx.scratch(caller)`, a fresh file, so an allowed write never spends the shared one.
    """
    methods: dict
    auth: str = "session"  # or "bearer"
    params: dict = field(default_factory=dict)
    request: object = None
    skip: str = ""


def q(**query):
    return lambda method, ctx, caller: {"query": query}


def form(allowed=None, **data):
    """A form post: `data` for callers who must be refused, `allowed` for those who may."""
    def build(method, ctx, caller):
        body = data if allowed is None or caller not in (OWNER, ADMIN) else allowed
        return {"data": {k: (v(ctx, caller) if callable(v) else v) for k, v in body.items()}}
    return build


def as_json(allowed=None, **data):
    def build(method, ctx, caller):
        body = data if allowed is None or caller not in (OWNER, ADMIN) else allowed
        return {"data": json.dumps(body), "content_type": "application/json"}
    return build


def target(ctx, caller):
    """The file a write aims at: the shared one for those who must be refused, a scratch one
    for the owner and the admin (their write really happens)."""
    return ctx.scratch(caller) if caller in (OWNER, ADMIN) else ctx.target


def files_request(method, ctx, caller):
    path = target(ctx, caller)
    if method == "PUT":
        return {"query": {"path": path}, "data": json.dumps({"content": "pwned", "version": ctx.version(path)}),
                "content_type": "application/json"}
    return {"query": {"path": path}}


DB_DOC = "64b000000000000000000001"


def db_ready(ctx) -> str:
    """The app's own database as every caller finds it: collection `things` with one known
    document and an index on `n`, and `spare` (to drop). Made again before each request, so an
    allowed drop or delete never leaves the next caller with nothing to be refused. Returns the
    name the store gave the index."""
    import pymongo
    from bson import ObjectId
    from django.conf import settings

    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as client:
        db = client[f"app_{ctx.slug}"]
        db.things.replace_one({"_id": ObjectId(DB_DOC)}, {"_id": ObjectId(DB_DOC), "n": 1}, upsert=True)
        db.spare.replace_one({"_id": 1}, {"_id": 1}, upsert=True)
        db.things.create_index("n")
        return next(ix["name"] for ix in db.things.list_indexes() if dict(ix["key"]) == {"n": 1})


def with_db(build=None):
    def request(method, ctx, caller):
        index = db_ready(ctx)
        return build(method, ctx, caller, index) if build else {}
    return request


# ---------------------------------------------------------------- THE TABLE
# Keyed by the route's pattern as the resolver spells it. One line per route; `admin/` and
# `static/` are prefixes that cover everything under them.
ROUTES: dict[str, Route] = {
    "healthz": Route({"GET": everyone(status(200, 503))}),  # 503 while a service is down (no worker here)
    # The agent container's API: only its run's token (issue 9.4); no session, no MGX token.
    "internal/agent/exec": Route({"POST": everyone(status(401))}, auth="bearer",
                                 request=as_json(command="touch /workspace/pwned")),
    "internal/agent/dev/start": Route({"POST": everyone(status(401))}, auth="bearer"),
    "internal/agent/dev": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/preview": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/logs": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/traces": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/run": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/run/cancelled": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/run/finish": Route({"POST": everyone(status(401))}, auth="bearer", request=as_json(status="failed")),
    "internal/agent/events": Route({"POST": everyone(status(401))}, auth="bearer",
                                   request=as_json(type="MESSAGE_DELTA", payload={"text": "pwned"})),
    "internal/agent/usage": Route({"POST": everyone(status(401))}, auth="bearer"),
    "internal/agent/usage/session": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/commit": Route({"POST": everyone(status(401))}, auth="bearer", request=as_json(message="pwned")),
    "internal/agent/changes": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/checkpoints": Route({"GET": everyone(status(401)), "POST": everyone(status(401))}, auth="bearer"),
    "internal/agent/checkpoints/latest": Route({"GET": everyone(status(401))}, auth="bearer"),
    "internal/agent/checkpoints/writes": Route({"POST": everyone(status(401))}, auth="bearer"),
    # The provider: client- or grant-authenticated; a browser session adds nothing.
    "oauth2/authorize/": Route({"GET": SIGNED_IN}),
    "oauth2/token/": Route({"POST": everyone(status(401))}, request=form(grant_type="client_credentials")),
    "oauth2/revoke_token/": Route({"POST": everyone(status(401))}, request=form(token=lambda ctx, c: ctx.owner_token)),
    "oauth2/introspect/": Route({"POST": everyone(status(401))}, request=form(token=lambda ctx, c: ctx.owner_token)),
    r"oauth2/^\.well-known/openid-configuration/?$": Route({"GET": PUBLIC}),
    "oauth2/.well-known/jwks.json": Route({"GET": PUBLIC}),
    # Tokens of MGX's and the app's client here carry no `openid` scope: refused, never the data.
    "oauth2/userinfo/": Route({"GET": everyone(status(401))}, auth="bearer"),
    "oauth2/logout/": Route({"GET": PUBLIC}),
    "oauth2/apps/<slug:slug>/login/": Route({"GET": PUBLIC, "POST": everyone(status(400))},
                                            request=form(username="bob", password="guess")),
    # Self sign-up is off for the matrix's app.
    "oauth2/apps/<slug:slug>/signup/": Route({"GET": everyone(status(403))}),
    "oauth2/signup/": Route({"POST": everyone(status(401))}, request=form(username="mallory", password="x" * 12)),
    ".well-known/^openid-configuration/?$": Route({"GET": PUBLIC}),
    # An app's users page: its owner and MGX admins.
    "sessions/<slug:slug>/users/": Route({"GET": OWNED}),
    "sessions/<slug:slug>/users/new": Route({"POST": OWNED}, request=form(
        allowed={"username": ""}, username="mallory", password="a fine long password")),
    "sessions/<slug:slug>/users/<int:member_id>/active": Route({"POST": OWNED}, request=form(active="0")),
    "sessions/<slug:slug>/users/accounts": Route({"POST": OWNED}, request=form(username="admin")),
    "sessions/<slug:slug>/users/<int:member_id>/password": Route({"POST": OWNED}),
    "sessions/<slug:slug>/users/signup": Route({"POST": OWNED}, request=form(enabled="1")),
    "sessions/<slug:slug>/users/client-secret": Route({"POST": OWNED}),
    # MGX's own account pages.
    "accounts/login/": Route({"GET": PUBLIC, "POST": everyone(status(400))},
                             request=form(username="owner", password="guess")),
    "accounts/logout/": Route({"POST": everyone(LOGIN)}),  # ends the session if any, then the login page
    "accounts/profile/": Route({"GET": SIGNED_IN}),
    "accounts/profile/password/": Route({"POST": SIGNED_IN}, request=form(
        old_password="guess", new_password1="n3w password!", new_password2="n3w password!")),
    "accounts/profile/keys/": Route({"POST": SIGNED_IN}, request=form(public_key="not a key")),
    # The owner's key: nobody else's to delete, admins included (they use the Django admin).
    "accounts/profile/keys/<int:key_id>/delete/": Route({"POST": {**OWNED, ADMIN: NOT_FOUND}}),
    # "Your OAuth clients": anyone signed in registers their own; a client is its owner's alone.
    "accounts/clients/": Route({"GET": SIGNED_IN, "POST": SIGNED_IN}, request=form(
        allowed={"name": ""}, name="Intruder", redirect_uris="https://evil.example/cb", client_type="public",
        grants="authorization-code")),
    "accounts/clients/<str:client_id>/": Route({"GET": {**OWNED, ADMIN: NOT_FOUND}}),
    "accounts/clients/<str:client_id>/secret": Route({"POST": {**OWNED, ADMIN: NOT_FOUND}}),
    "accounts/clients/<str:client_id>/delete": Route({"POST": {**OWNED, ADMIN: NOT_FOUND}}),
    # The JSON API (django-ninja, mgx_site/api.py): bearer tokens; an app's token is never MGX's.
    "api/": Route({"GET": everyone(status(404))}),  # ninja's root: nothing there
    "api/openapi.json": Route({"GET": PUBLIC}),  # the API's description: public, like any API's docs
    "api/docs": Route({"GET": PUBLIC}),
    "api/me": Route({"GET": SIGNED_IN_API}, auth="bearer"),
    "api/sessions": Route({"GET": SIGNED_IN_API, "POST": SIGNED_IN_API},
                          auth="bearer", request=as_json(allowed={"name": ""}, name="Intruder", framework="nextjs")),
    "api/sessions/<slug>": Route({"GET": OWNED_API}, auth="bearer"),
    "api/workspaces/<slug>/entries": Route({"GET": OWNED_API}, auth="bearer", request=q(path="")),
    "api/workspaces/<slug>/files": Route({"GET": OWNED_API, "PUT": OWNED_API, "DELETE": OWNED_API}, auth="bearer",
                                         request=files_request),
    # A POST here queues a container start; in the test's transaction the queueing never commits.
    "api/apps/<slug>/dev": Route({"GET": OWNED_API, "POST": OWNED_API, "DELETE": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/dev/start": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/dev/status": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/dev/stop": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/logs": Route({"GET": OWNED_API}, auth="bearer", request=q(target="dev", tail="5")),
    "api/apps/<slug>/exec": Route({"POST": OWNED_API}, auth="bearer", request=as_json(
        allowed={"command": ""}, command="touch /workspace/pwned")),
    "api/sandbox/exec": Route({"POST": OWNED_API}, auth="bearer", request=lambda m, ctx, caller: {
        "data": json.dumps({"session_id": ctx.slug, "command": "" if caller in (OWNER, ADMIN) else "touch /workspace/pwned"}),
        "content_type": "application/json"}),
    # MGX admins only; the owner of the app included is refused.
    "api/sandbox/destroy": Route({"POST": ADMIN_API}, auth="bearer", request=lambda m, ctx, caller: {
        "data": json.dumps({"session_id": ctx.slug}), "content_type": "application/json"}),
    "api/sandbox/destroy_all": Route({"POST": ADMIN_API}, auth="bearer"),
    # The agent team over HTTP (issue 10). `run_id` is the world's finished run: the owner's
    # resume and cancel are answered 409 and the owner's generate gets an empty prompt (422), so
    # nothing starts; the event stream answers 200 and is never read here.
    "api/apps/<slug>/agent/generate": Route({"POST": OWNED_API}, auth="bearer", request=as_json(
        allowed={"prompt": " "}, prompt="delete everything")),
    # Fix it: the owner names a kind there is none of (422), so no run starts; the others a real one.
    "api/apps/<slug>/agent/fix": Route({"POST": OWNED_API}, auth="bearer", request=as_json(
        allowed={"kind": "nothing"}, kind="dev")),
    "api/apps/<slug>/agent/tasks/<run_id>": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/agent/events": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/agent/runs/<run_id>/resume": Route({"POST": OWNED_API}, auth="bearer",
                                                        request=as_json(decision="approve")),
    "api/apps/<slug>/agent/runs/<run_id>/cancel": Route({"POST": OWNED_API}, auth="bearer"),
    # Production (issue 12). In the test's transaction a queued build or deploy never commits;
    # the world's build failed and its release stopped, so the owner's deploy and rollback get 409.
    "api/apps/<slug>/prod/build": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/publish": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/auto-publish": Route({"PUT": OWNED_API}, auth="bearer", request=as_json(enabled=False)),
    "api/apps/<slug>/prod/builds": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/builds/<build_id>": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/deploy": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/status": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/stop": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/releases": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/releases/<release_id>/rollback": Route({"POST": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/env": Route({"GET": OWNED_API}, auth="bearer"),
    "api/apps/<slug>/prod/env/<name>": Route({"PUT": OWNED_API, "DELETE": OWNED_API}, auth="bearer",
                                             params={"name": "MATRIX_VAR"}, request=as_json(value="x")),
    # The Database tab's API (issue 14), on the app's own database.
    "api/apps/<slug>/db/collections": Route({"GET": OWNED_API, "POST": OWNED_API}, auth="bearer", request=with_db(
        lambda m, ctx, c, ix: {"data": json.dumps({"name": "matrix_made"}), "content_type": "application/json"})),
    "api/apps/<slug>/db/collections/<name>": Route({"DELETE": OWNED_API}, auth="bearer", params={"name": "spare"},
                                                  request=with_db(lambda m, ctx, c, ix: {"query": {"confirm": "spare"}})),
    "api/apps/<slug>/db/collections/<name>/documents": Route(
        {"GET": OWNED_API, "POST": OWNED_API}, auth="bearer", params={"name": "things"},
        request=with_db(lambda m, ctx, c, ix: {"data": json.dumps({"n": 2}), "content_type": "application/json"})),
    "api/apps/<slug>/db/collections/<name>/documents/<id>": Route(
        {"GET": OWNED_API, "PUT": OWNED_API, "DELETE": OWNED_API}, auth="bearer", params={"name": "things", "id": DB_DOC},
        request=with_db(lambda m, ctx, c, ix: {"data": json.dumps({"n": 3}), "content_type": "application/json"})),
    "api/apps/<slug>/db/collections/<name>/indexes": Route(
        {"GET": OWNED_API, "POST": OWNED_API, "DELETE": OWNED_API}, auth="bearer", params={"name": "things"},
        request=with_db(lambda m, ctx, c, ix: {"query": {"index": ix}} if m == "DELETE" else
                        {"data": json.dumps({"keys": {"m": 1}}), "content_type": "application/json"})),
    "api/apps/<slug>/db/collections/<name>/export": Route({"GET": OWNED_API}, auth="bearer", params={"name": "things"},
                                                         request=with_db()),
    "api/apps/<slug>/db/collections/<name>/import": Route(
        {"POST": OWNED_API}, auth="bearer", params={"name": "things"},
        request=with_db(lambda m, ctx, c, ix: {"data": '{"n": 4}\n', "content_type": "application/x-ndjson"})),
    "sessions/<slug:slug>/db/": Route({"GET": OWNED}, request=with_db(lambda m, ctx, c, ix: {"query": {"collection": "things"}})),
    "sessions/<slug:slug>/db/collections/new": Route({"POST": OWNED}, request=form(name="matrix_page")),
    "sessions/<slug:slug>/db/collections/drop": Route({"POST": OWNED}, request=with_db(
        lambda m, ctx, c, ix: {"data": {"collection": "spare", "confirm": "spare"}})),
    "sessions/<slug:slug>/db/documents/new": Route({"POST": OWNED}, request=form(collection="things", document='{"n": 5}')),
    "sessions/<slug:slug>/db/documents/save": Route({"POST": OWNED}, request=with_db(
        lambda m, ctx, c, ix: {"data": {"collection": "things", "id": DB_DOC, "document": '{"n": 6}'}})),
    "sessions/<slug:slug>/db/documents/delete": Route({"POST": OWNED}, request=with_db(
        lambda m, ctx, c, ix: {"data": {"collection": "things", "id": DB_DOC}})),
    "sessions/<slug:slug>/db/indexes/new": Route({"POST": OWNED}, request=form(collection="things", keys='{"k": 1}')),
    "sessions/<slug:slug>/db/indexes/drop": Route({"POST": OWNED}, request=with_db(
        lambda m, ctx, c, ix: {"data": {"collection": "things", "index": ix}})),
    "sessions/<slug:slug>/db/import": Route({"POST": OWNED}, request=form(collection="things")),
    "sessions/<slug:slug>/db/export": Route({"GET": OWNED}, request=with_db(lambda m, ctx, c, ix: {"query": {"collection": "things"}})),
    "sessions/<slug:slug>/prod/panel": Route({"GET": OWNED}),
    "sessions/<slug:slug>/prod/releases/<int:release_id>/rollback": Route({"POST": OWNED}),
    "sessions/<slug:slug>/prod/env/set": Route({"POST": OWNED}, request=form(name="MATRIX_VAR", value="x")),
    "sessions/<slug:slug>/prod/env/<str:name>/delete": Route({"POST": OWNED}, params={"name": "MATRIX_VAR"}),
    "sessions/<slug:slug>/prod/<str:action>": Route({"POST": OWNED}, params={"action": "deploy"}),
    # Pages.
    "": Route({"GET": SIGNED_IN}),
    "system-status/": Route({"GET": SIGNED_IN}),
    # Every user's apps: MGX admins only.
    "all-apps/": Route({"GET": STAFF}),
    "sessions/<slug:slug>/badges": Route({"GET": OWNED}),
    "sessions/<slug:slug>/delete-preview": Route({"GET": OWNED}),
    "sessions/new/": Route({"GET": SIGNED_IN, "POST": SIGNED_IN}, request=form(allowed={"name": ""}, name="Intruder")),
    "sessions/<slug:slug>/": Route({"GET": OWNED}),
    "sessions/<slug:slug>/delete": Route({"POST": OWNED}, request=form(
        allowed={"confirm": "not the slug"}, confirm=lambda ctx, c: ctx.slug)),
    "sessions/<slug:slug>/tree/": Route({"GET": OWNED}),
    "sessions/<slug:slug>/files/new": Route({"POST": OWNED}, request=form(
        path=lambda ctx, c: f"matrix/new-{c.replace(' ', '-')}.txt", kind="file")),
    "sessions/<slug:slug>/files/rename": Route({"POST": OWNED}, request=form(
        path=target, to=lambda ctx, c: f"matrix/renamed-{c.replace(' ', '-')}.txt")),
    "sessions/<slug:slug>/files/delete": Route({"POST": OWNED}, request=form(path=target)),
    "sessions/<slug:slug>/files/upload": Route({"POST": OWNED}, request=form(path="matrix/")),
    "sessions/<slug:slug>/files/download": Route({"GET": OWNED}, request=lambda m, ctx, c: {"query": {"path": ctx.target}}),
    "sessions/<slug:slug>/files/zip": Route({"GET": OWNED}),
    "sessions/<slug:slug>/^history/(?P<sha>[0-9a-f]{7,40})/$": Route({"GET": OWNED}),
    # Restoring the first version would drop the target file: a real change to refuse.
    "sessions/<slug:slug>/^history/(?P<sha>[0-9a-f]{7,40})/restore$": Route(
        {"POST": OWNED}, params={"sha": "first_sha"}),
    "sessions/<slug:slug>/dev/panel": Route({"GET": OWNED}),
    "sessions/<slug:slug>/dev/<str:action>": Route({"POST": OWNED}, params={"action": "start"}),
    "sessions/<slug:slug>/logs/<slug:role>/download": Route({"GET": OWNED}),
    # Telemetry: the Traces tab, a trace, the Logs tab's OTel view, the ingest token and retention.
    "sessions/<slug:slug>/traces/": Route({"GET": OWNED}),
    "sessions/<slug:slug>/traces/<str:trace_id>/": Route({"GET": OWNED}),
    "sessions/<slug:slug>/logs/app/": Route({"GET": OWNED}, request=q(severity="error")),
    "sessions/<slug:slug>/traces/token/rotate": Route({"POST": OWNED}),
    "sessions/<slug:slug>/traces/retention": Route({"POST": OWNED}, request=form(days="30")),
    # The OTLP receiver takes an app's ingest token only: no session or MGX token is one.
    "otlp/v1/traces": Route({"POST": everyone(status(401))}, auth="bearer"),
    "otlp/v1/logs": Route({"POST": everyone(status(401))}, auth="bearer"),
    "sessions/<slug:slug>/agent/messages": Route({"POST": OWNED}, request=form(allowed={"text": ""}, text="delete everything")),
    "sessions/<slug:slug>/agent/runs/<str:run_id>/resume": Route({"POST": OWNED}, request=form(call_id="c", approved="1")),
    "sessions/<slug:slug>/agent/runs/<str:run_id>/cancel": Route({"POST": OWNED}),
    "sessions/<slug:slug>/agent/fix": Route({"POST": OWNED}, request=form(allowed={"kind": "nothing"}, kind="dev")),
    # What the preview page says about itself: the owner's report is refused as malformed (400).
    "sessions/<slug:slug>/dev/page-report": Route({"POST": OWNED}, request=as_json(
        allowed={"kind": "nothing"}, kind="error", message="spoofed")),
    # Prefixes.
    "admin/": Route({"GET": STAFF}),
    "static/": Route({}, skip="served by the static files handler from the finders, public by design"),
}

# A handful of admin pages stand for all of them.
ADMIN_SAMPLES = ["/admin/", "/admin/auth/user/", "/admin/accounts/loginthrottle/",
                 "/admin/oauth2_provider/application/", "/admin/accounts/appmember/",
                 "/admin/deployments/devenvironment/", "/admin/telemetry/", "/admin/model/"]

WEBSOCKETS = {
    "ws/echo/": SIGNED_IN,
    "ws/apps/<slug:slug>/": OWNED,
    "ws/apps/<slug:slug>/agent/": OWNED,
    "ws/apps/<slug:slug>/logs/<slug:role>/": OWNED,
    "ws/apps/<slug:slug>/terminal/<slug:role>/": OWNED,
}
PREFIXES = ("admin/", "static/")


# ---------------------------------------------------------------- the routes as they are

def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def url_routes() -> list[str]:
    return list(dict.fromkeys(_walk(get_resolver().url_patterns)))


def websocket_routes() -> list[str]:
    from mgx_site.routing import websocket_urlpatterns

    return [str(p.pattern) for p in websocket_urlpatterns]


def entry_for(route: str):
    if route in ROUTES:
        return ROUTES[route]
    return next((ROUTES[p] for p in PREFIXES if route.startswith(p)), None)


def test_every_route_has_a_decision():
    missing = [r for r in url_routes() if entry_for(r) is None]
    missing += [f"websocket {r}" for r in websocket_routes() if r not in WEBSOCKETS]
    assert not missing, "Routes with no entry in the authorization matrix (decide who may use them):\n  " + \
        "\n  ".join(missing)
    stale = [r for r in ROUTES if r not in PREFIXES and r not in url_routes()]
    assert not stale, f"Entries for routes that no longer exist: {stale}"


# ---------------------------------------------------------------- one app for the module

@dataclass
class World:
    slug: str
    app_pk: int
    target: str
    content: str
    member_id: int
    key_id: int
    sha: str
    first_sha: str
    run_id: str
    owner_token: str
    bearer: dict
    cookies: dict
    users: dict
    client_id: str = ""  # the owner's external OAuth client
    build_id: int = 0  # a failed build of the app, and a stopped release of it
    release_id: int = 0
    trace_id: str = "ab" * 16  # a trace the app sent

    def scratch(self, caller: str) -> str:
        from sessions_app.models import App
        from workspaces.services import workspace_for

        path = f"matrix/scratch-{caller.replace(' ', '-')}.txt"
        full = workspace_for(App.objects.get(pk=self.app_pk)).root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text("scratch\n")
        return path

    def version(self, path: str) -> str:
        from sessions_app.models import App
        from workspaces.selectors import file_read

        return file_read(app=App.objects.get(pk=self.app_pk), path=path).version

    def url(self, route: str, params: dict) -> str:
        values = {"slug": self.slug, "member_id": self.member_id, "key_id": self.key_id, "sha": self.sha,
                  "run_id": self.run_id, "client_id": self.client_id, "role": "dev",
                  "build_id": self.build_id, "release_id": self.release_id,
                  "trace_id": self.trace_id}
        values.update({k: getattr(self, v, v) for k, v in params.items()})
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), route)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), path)
        path = path.replace("^", "").replace("$", "").replace("/?", "/").replace("\\.", ".")
        return "/" + path


@pytest.fixture(autouse=True)
def _fresh_workspaces():
    """The module shares one app; its workspace stays for the module (removed at its end)."""
    yield


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import AccessToken

    from accounts import services as accounts
    from accounts.models import AppMember, SSHKey
    from accounts.provider import token_request
    from accounts.tests.test_ssh_keys import ED25519
    from agents.documents import AgentRun
    from sessions_app.models import App
    from studio.services import app_create
    from workspaces.selectors import history_list
    from workspaces.services import file_write

    User = get_user_model()
    password = "correct horse battery"
    with django_db_blocker.unblock():
        users = {
            OWNER: User.objects.create_user("m-owner", password=password),
            STRANGER: User.objects.create_user("m-stranger", password=password),
            ADMIN: User.objects.create_user("m-admin", password=password, is_staff=True, is_superuser=True),
        }
        app = app_create(owner=users[OWNER], name="Matrix App", framework="nextjs")
        first_sha = history_list(app=app, limit=1)[0].sha
        content = "the owner's words\n"
        file_write(app=app, path="matrix/target.txt", content=content, user=users[OWNER], base_version="")
        client = accounts.app_client_register(app=app).application
        member, member_password = accounts.app_member_create(app=app, username="bob")
        key = accounts.ssh_key_add(user=users[OWNER], public_key=ED25519)
        external, _secret = accounts.external_client_register(
            name="Matrix client", redirect_uris=["https://owner.example/cb"], grants=["authorization-code"],
            confidential=True, owner=users[OWNER])

        def grant(client_id, username, pw, secret=None):
            data = {"grant_type": "password", "client_id": client_id, "username": username, "password": pw}
            if secret:
                data["client_secret"] = secret
            code, body = token_request(data, address="192.0.2.1")
            assert code == 200, body
            return body["access_token"]

        bearer = {who: grant("mgx", u.username, password) for who, u in users.items()}
        bearer[APP_USER] = grant(client.client_id, "bob", member_password, client.client_secret)
        cookies = {}
        for who, user in users.items():
            c = Client()
            c.force_login(user)
            cookies[who] = c.cookies["sessionid"].value
        app_browser = Client()
        logged_in = app_browser.post(f"/oauth2/apps/{app.slug}/login/", {"username": "bob", "password": member_password})
        assert logged_in.status_code == 302, logged_in.content
        cookies[APP_USER] = app_browser.cookies["sessionid"].value
        AgentRun(run_id="0" * 32, session=app.slug, status="done", input="A finished run").save(force_insert=True)
        from deployments.models import Build, Release

        build = Build.objects.create(app=app, number=1, commit=first_sha, status="failed", message="matrix")
        release = Release.objects.create(app=app, build=build, number=1, status="stopped")
        import datetime as dt

        from observability.documents import spans

        now = dt.datetime.now(dt.timezone.utc)
        ns = int(now.timestamp() * 1e9)
        spans().insert_one({"app": app.slug, "trace_id": "ab" * 16, "start": now, "start_ns": ns, "end_ns": ns + 1000,
                            "status": 0, "n": 1, "root": "GET /", "names": ["GET /"], "received_at": now,
                            "spans": [{"span_id": "cd" * 8, "parent_span_id": "", "name": "GET /", "start_ns": ns,
                                       "end_ns": ns + 1000, "duration_ms": 0.001, "status": 0}]})
        world = World(
            slug=app.slug, app_pk=app.pk, target="matrix/target.txt", content=content, member_id=member.pk,
            key_id=key.pk, sha=history_list(app=app, limit=1)[0].sha, first_sha=first_sha, run_id="0" * 32,
            owner_token=bearer[OWNER], bearer=bearer, cookies=cookies, users=users,
            client_id=external.client_id, build_id=build.pk, release_id=release.pk,
        )
    yield world
    AgentRun.objects(session=app.slug).delete()
    from observability.services import telemetry_delete

    telemetry_delete(slug=app.slug)
    with django_db_blocker.unblock():
        AppMember.objects.filter(app_id=app.pk).delete()
        SSHKey.objects.filter(user__in=users.values()).delete()
        AccessToken.objects.all().delete()
        external.application.delete()
        App.objects.filter(pk=app.pk).delete()
        User.objects.filter(username__in=["m-owner", "m-stranger", "m-admin", f"{app.slug}:bob"]).delete()
    shutil.rmtree(settings.MGX_WORKSPACE_ROOT, ignore_errors=True)


def fingerprint(world: World) -> dict:
    """What a refused write must leave alone: the workspace's files and history, and the records
    that every write route touches."""
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import Application

    from accounts.models import AppMember, OAuthClient, SSHKey
    from agents.documents import AgentRun
    from deployments.models import DevEnvironment
    from observability.models import IngestKey
    from sessions_app.models import App
    from workspaces.selectors import history_list

    files = files_digest(Path(settings.MGX_WORKSPACE_ROOT) / world.slug)
    app = App.objects.filter(pk=world.app_pk).first()
    return {
        "files": files,
        "head": history_list(app=app, limit=1)[0].sha if app else None,
        "apps": sorted(App.objects.values_list("slug", "name")),
        "members": sorted(AppMember.objects.values_list("pk", "is_active", "user__password")),
        "clients": sorted(Application.objects.values_list("client_id", "client_secret")),
        "signup": sorted(OAuthClient.objects.values_list("pk", "self_signup")),
        "keys": sorted(SSHKey.objects.values_list("pk", flat=True)),
        "users": sorted(get_user_model().objects.values_list("username", "password", "is_active")),
        "dev": sorted(DevEnvironment.objects.values_list("app_id", "phase")),
        "runs": AgentRun.objects(session=world.slug).count(),
        "app database": _app_database(world.slug),
        "ingest": sorted(IngestKey.objects.values_list("app_id", "salt", "retention_days")),
    }


def _app_database(slug: str) -> dict:
    """Every collection of the app's own database: its documents and index names."""
    import pymongo

    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as client:
        db = client[f"app_{slug}"]
        return {name: (sorted(map(str, db[name].find())), sorted(ix["name"] for ix in db[name].list_indexes()))
                for name in sorted(db.list_collection_names())}


# ---------------------------------------------------------------- the cells

def _http_cells():
    for route in url_routes():
        entry = entry_for(route)
        if entry is None or entry.skip or route.startswith("admin/"):
            continue
        for method, profile in entry.methods.items():
            yield pytest.param(route, method, profile, id=f"{method} /{route}")
    for url in ADMIN_SAMPLES:
        yield pytest.param(url, "GET", STAFF, id=f"GET {url}")


def _call(client: Client, method: str, path: str, kwargs: dict, headers: dict):
    query = kwargs.pop("query", None)
    if query:
        from urllib.parse import urlencode

        path = f"{path}?{urlencode(query)}"
    if method in SAFE:
        kwargs.pop("data", None), kwargs.pop("content_type", None)  # a body is for writes
    send = getattr(client, method.lower())
    if method in ("PUT", "DELETE", "PATCH") and "content_type" not in kwargs and kwargs.get("data"):
        kwargs["content_type"] = "application/x-www-form-urlencoded"
    return send(path, headers=headers, **kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("route,method,profile", list(_http_cells()))
def test_route(world, route, method, profile):
    entry = ROUTES["admin/"] if route.startswith("/admin/") else entry_for(route)
    failures = []
    for caller in CALLERS:
        kwargs = entry.request(method, world, caller) if entry.request else {}
        path = route if route.startswith("/") else world.url(route, entry.params)
        client, headers = Client(), {}
        if entry.auth == "bearer":
            if caller != ANON:
                headers["Authorization"] = f"Bearer {world.bearer[caller]}"
        elif caller != ANON:
            client.cookies["sessionid"] = world.cookies[caller]
        expected = profile[caller]
        write = method not in SAFE
        before = fingerprint(world) if write and expected is not ALLOWED else None
        response = _call(client, method, path, kwargs, headers)
        if not expected(response):
            failures.append(f"{caller}: {method} {path} answered {response.status_code} "
                            f"{response.get('Location', '')}, expected {expected.__doc__.strip().splitlines()[0]}")
        elif before is not None and fingerprint(world) != before:
            after = fingerprint(world)
            changed = [k for k in before if before[k] != after[k]]
            failures.append(f"{caller}: {method} {path} was refused ({response.status_code}) but changed {changed}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- websockets, on the live Daphne

@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("route", list(WEBSOCKETS))
def test_websocket_route(live, world, route):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    failures = []
    for caller in CALLERS:
        headers = {"Origin": live.url}
        if caller != ANON:
            headers["Cookie"] = f"sessionid={world.cookies[caller]}"
        try:
            with connect(live.ws_url + world.url(route, {}), additional_headers=headers, open_timeout=10):
                answer = 101
        except InvalidStatus as refused:
            answer = refused.response.status_code
        allowed = WEBSOCKETS[route][caller] is ALLOWED
        if allowed != (answer == 101) or (not allowed and answer != 403):
            failures.append(f"{caller}: {route} answered {answer}")
    assert not failures, "\n".join(failures)
