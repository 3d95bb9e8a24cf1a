"""The typed JSON API as a script uses it: a small client driven by `/api/openapi.json` calls
every documented operation on the live Daphne with real bearer tokens from MGX's provider and
checks each real answer against the schema the document gives for its status.

The JSON-schema check is written here (jsonschema is not a dependency): types, required,
properties (an undocumented key is an error too: the document must describe what is sent),
additionalProperties, items, enum, $ref into components, anyOf and nullable.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings

from .digest import files_digest

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
ERROR_KEYS = {"code", "message", "fields"}


# ---------------------------------------------------------------- a JSON-schema checker

def schema_errors(schema: dict, value, doc: dict, where: str = "$") -> list[str]:
    """What in `value` does not fit `schema` ([] when it fits); `doc` resolves `$ref`s."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), f"only local references are expected, not {ref}"
        target = doc
        for part in ref[2:].split("/"):
            target = target[part]
        return schema_errors(target, value, doc, where)
    if value is None and schema.get("nullable"):
        return []
    if "anyOf" in schema or "oneOf" in schema:
        branches = [schema_errors(s, value, doc, where) for s in schema.get("anyOf", schema.get("oneOf"))]
        if not any(not b for b in branches):
            return [f"{where}: fits none of the alternatives ({'; '.join(b[0] for b in branches)})"]
        return []
    for sub in schema.get("allOf", []):
        if found := schema_errors(sub, value, doc, where):
            return found
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind is not None and not checks[kind](value):
        return [f"{where}: {value!r} is not of type {kind}"]
    found: list[str] = []
    if kind == "object" or (kind is None and isinstance(value, dict) and "properties" in schema):
        properties = schema.get("properties", {})
        found += [f"{where}: '{key}' is required" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                found += schema_errors(properties[key], item, doc, f"{where}.{key}")
            elif isinstance(extra, dict):
                found += schema_errors(extra, item, doc, f"{where}.{key}")
            elif extra is not True:
                found.append(f"{where}: '{key}' is not documented")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            found += schema_errors(schema["items"], item, doc, f"{where}[{i}]")
    return found


def test_the_checker_catches_what_it_should():
    doc = {"components": {"schemas": {
        "E": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}},
        "O": {"type": "object", "required": ["e", "n"], "properties": {
            "e": {"$ref": "#/components/schemas/E"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["a", "b"], "type": "string"},
            "map": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "old": {"type": "string", "nullable": True}}}}}}
    ref = {"$ref": "#/components/schemas/O"}
    assert schema_errors(ref, {"e": {"code": "x"}, "n": None, "tags": ["a"], "kind": "a", "map": {"f": ["m"]},
                               "old": None}, doc) == []
    assert schema_errors(ref, {"e": {}, "n": 1}, doc) == ["$.e: 'code' is required"]
    assert schema_errors(ref, {"e": {"code": 1}, "n": "1"}, doc)[0].startswith("$.e.code: 1 is not of type string")
    assert "fits none" in schema_errors(ref, {"e": {"code": "x"}, "n": "1"}, doc)[0]
    assert schema_errors(ref, {"e": {"code": "x"}, "n": True}, doc)  # a boolean is not an integer
    assert schema_errors(ref, {"e": {"code": "x"}, "n": 1, "tags": [2]}, doc) == ["$.tags[0]: 2 is not of type string"]
    assert schema_errors(ref, {"e": {"code": "x"}, "n": 1, "kind": "c"}, doc)
    assert schema_errors(ref, {"e": {"code": "x"}, "n": 1, "map": {"f": [3]}}, doc)
    assert schema_errors(ref, {"e": {"code": "x"}, "n": 1, "surprise": 1}, doc) == ["$: 'surprise' is not documented"]


# ---------------------------------------------------------------- the client

@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


class OpenApiClient:
    """Calls operations by (method, path template) as the document lists them, and checks each
    answer against the documented response for its status."""

    def __init__(self, live):
        self.base = live.url
        got = requests.get(f"{live.url}/api/openapi.json", timeout=10)
        assert got.status_code == 200, got.text[:300]
        self.doc = got.json()
        assert self.doc["openapi"].startswith("3.")

    def operations(self) -> set[tuple[str, str]]:
        return {(method.upper(), path) for path, ops in self.doc["paths"].items() for method in ops}

    def operation(self, method: str, path: str) -> dict:
        return self.doc["paths"][path][method.lower()]

    def call(self, caller: Caller, method: str, path: str, *, slug: str = "", query=None, body=None,
             raw: str | None = None, headers=None, http=None, params: dict | None = None) -> requests.Response:
        op = self.operation(method, path)  # KeyError: the operation is not documented
        url = self.base + path.replace("{slug}", slug)
        # Other path parameters: the call's own, or a well-formed id that names nothing.
        for key, value in {"build_id": 999999, "release_id": 999999, "name": "TYPED_VAR", **(params or {})}.items():
            url = url.replace("{" + key + "}", str(value))
        send_headers = {**caller.headers, **(headers or {})}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            send_headers.setdefault("Content-Type", "application/json")
            assert "requestBody" in op, f"{method} {path} documents no body"
        response = (http or requests).request(method, url, params=query, data=data, headers=send_headers, timeout=180)
        self.check(method, path, response)
        return response

    def check(self, method: str, path: str, response: requests.Response) -> None:
        documented = self.operation(method, path)["responses"]
        status = str(response.status_code)
        assert status in documented, f"{method} {path} answered {status}, which it does not document: {response.text[:300]}"
        content = documented[status].get("content")
        if not content:
            assert not response.content, f"{method} {path} {status} documents no body but sent {response.text[:200]}"
            return
        assert response.headers["Content-Type"].startswith("application/json")
        problems = schema_errors(content["application/json"]["schema"], response.json(), self.doc)
        assert not problems, f"{method} {path} {status}: {problems}\n{response.text[:500]}"
        if response.status_code >= 400:
            assert set(response.json()["error"]) == ERROR_KEYS, response.text


def password_token(live, username: str, password: str, *, client_id: str = "mgx", secret: str | None = None) -> str:
    data = {"grant_type": "password", "client_id": client_id, "username": username, "password": password}
    if secret:
        data["client_secret"] = secret
    got = requests.post(f"{live.url}/oauth2/token/", data=data, timeout=10)
    assert got.status_code == 200, got.text
    return got.json()["access_token"]


@dataclass
class World:
    slug: str
    app: object
    owner: Caller
    stranger: Caller
    admin: Caller
    app_user: Caller
    anonymous: Caller
    build_id: int = 0  # a build of the app still "building" (no worker runs it)


@pytest.fixture
def world(live, app_factory, user_factory):
    from accounts import services as accounts

    owner = user_factory(username="typed-owner", password=PASSWORD)
    user_factory(username="typed-stranger", password=PASSWORD)
    user_factory(username="typed-admin", password=PASSWORD, is_staff=True, is_superuser=True)
    app = app_factory(owner=owner, name="Typed App")
    client = accounts.app_client_register(app=app).application
    _member, member_password = accounts.app_member_create(app=app, username="bob")
    client.refresh_from_db()
    from deployments.models import Build

    build = Build.objects.create(app=app, number=1, commit="0" * 40, status="building", message="typed")
    return World(
        slug=app.slug, app=app, build_id=build.pk,
        owner=Caller("owner", password_token(live, "typed-owner", PASSWORD)),
        stranger=Caller("another user", password_token(live, "typed-stranger", PASSWORD)),
        admin=Caller("admin", password_token(live, "typed-admin", PASSWORD)),
        app_user=Caller("app user", password_token(live, "bob", member_password, client_id=client.client_id,
                                                   secret=client.client_secret)),
        anonymous=Caller("anonymous", None),
    )


@pytest.fixture
def api(live):
    return OpenApiClient(live)


def fingerprint(app) -> dict:
    """What a refused call must leave alone: the workspace's files, its history, the apps and
    the dev container's record."""
    from deployments.models import DevEnvironment
    from sessions_app.models import App
    from workspaces.selectors import history_list

    files = files_digest(Path(settings.MGX_WORKSPACE_ROOT) / app.slug)
    return {"files": files, "head": history_list(app=app, limit=1)[0].sha,
            "apps": sorted(App.objects.values_list("slug", flat=True)),
            "dev": list(DevEnvironment.objects.values_list("app__slug", "phase", "message"))}


# Operations that start a dev container: called once, in the slow test at the end.
STARTS = {("POST", "/api/apps/{slug}/dev"), ("POST", "/api/apps/{slug}/dev/start")}
ADMIN_ONLY = {("POST", "/api/sandbox/destroy"), ("POST", "/api/sandbox/destroy_all")}


def agent_operations(api) -> set:
    """The agent team's operations: exercised with real runs, schemas, refusals and the event
    stream in agents/tests/test_api_agent.py."""
    return {(m, p) for m, p in api.operations() if p.startswith("/api/apps/{slug}/agent/")}


def database_operations(api) -> set:
    """The app database's operations: exercised against the apps' store, with their refusals,
    in databases/tests/test_api.py (the refusals of strangers and anonymous callers stay here)."""
    return {(m, p) for m, p in api.operations() if p.startswith("/api/apps/{slug}/db/")}


def example_calls(w: World) -> list[tuple]:
    """(caller, method, path, kwargs, expected status): one real call per documented operation."""
    files = "/api/workspaces/{slug}/files"
    return [
        (w.owner, "GET", "/api/me", {}, 200),
        (w.owner, "GET", "/api/sessions", {}, 200),
        (w.owner, "POST", "/api/sessions", {"body": {"name": "Typed Two", "framework": "fastapi_vite"}}, 201),
        (w.owner, "GET", "/api/sessions/{slug}", {}, 200),
        (w.owner, "GET", "/api/workspaces/{slug}/entries", {"query": {"path": ""}}, 200),
        (w.owner, "GET", files, {"query": {"path": "README.md"}}, 200),
        (w.owner, "PUT", files, {"query": {"path": "notes/typed.txt"}, "body": {"content": "hi\n", "version": ""}}, 200),
        # "" creates only when absent: the second write is the documented 409 with what is there.
        (w.owner, "PUT", files, {"query": {"path": "notes/typed.txt"}, "body": {"content": "no\n", "version": ""}}, 409),
        (w.owner, "DELETE", files, {"query": {"path": "notes/typed.txt"}}, 204),
        (w.owner, "GET", "/api/apps/{slug}/dev", {}, 200),
        (w.owner, "GET", "/api/apps/{slug}/dev/status", {}, 200),
        (w.owner, "DELETE", "/api/apps/{slug}/dev", {}, 200),
        (w.owner, "POST", "/api/apps/{slug}/dev/stop", {}, 200),
        # No dev container runs: the documented 409 that says so.
        (w.owner, "POST", "/api/apps/{slug}/exec", {"body": {"command": "true"}}, 409),
        (w.owner, "POST", "/api/sandbox/exec", {"body": {"session_id": w.slug, "command": ["true"]}}, 409),
        (w.owner, "GET", "/api/apps/{slug}/logs", {"query": {"target": "prod", "tail": 10}}, 409),  # not deployed
        (w.admin, "POST", "/api/sandbox/destroy", {"body": {"session_id": w.slug}}, 200),
        (w.admin, "POST", "/api/sandbox/destroy_all", {}, 200),
        # Production: the world's build is still "building", so a second one is the documented
        # 409, and nothing succeeded yet to deploy (409); stop with nothing live is fine.
        (w.owner, "POST", "/api/apps/{slug}/prod/build", {}, 409),
        (w.owner, "GET", "/api/apps/{slug}/prod/builds", {}, 200),
        (w.owner, "GET", "/api/apps/{slug}/prod/builds/{build_id}", {"params": {"build_id": w.build_id}}, 200),
        (w.owner, "POST", "/api/apps/{slug}/prod/deploy", {}, 409),
        (w.owner, "POST", "/api/apps/{slug}/prod/publish", {}, 409),  # the world's build still runs
        (w.owner, "PUT", "/api/apps/{slug}/prod/auto-publish", {"body": {"enabled": False}}, 200),
        (w.owner, "GET", "/api/apps/{slug}/prod/status", {}, 200),
        (w.owner, "POST", "/api/apps/{slug}/prod/stop", {}, 200),
        (w.owner, "GET", "/api/apps/{slug}/prod/releases", {}, 200),
        (w.owner, "POST", "/api/apps/{slug}/prod/releases/{release_id}/rollback", {}, 404),
        (w.owner, "PUT", "/api/apps/{slug}/prod/env/{name}", {"body": {"value": "v", "secret": False}}, 200),
        (w.owner, "GET", "/api/apps/{slug}/prod/env", {}, 200),
        (w.owner, "DELETE", "/api/apps/{slug}/prod/env/{name}", {}, 200),
    ]


def test_every_documented_operation_answers_with_its_documented_schema(live, api, world):
    calls = example_calls(world)
    called = {(m, p) for _c, m, p, _k, _s in calls}
    assert called | STARTS | agent_operations(api) | database_operations(api) == api.operations(), "an operation with no example call here, or a call of nothing"
    for caller, method, path, kwargs, expected in calls:
        got = api.call(caller, method, path, slug=world.slug, **kwargs)
        assert got.status_code == expected, f"{caller.name}: {method} {path} → {got.status_code} {got.text[:300]}"
        op = api.operation(method, path)
        assert op.get("summary") and op.get("tags"), f"{method} {path} has no summary or tag"
        assert "ErrorOut" in json.dumps(op["responses"]), f"{method} {path} documents no error answer"

    by_name = {s["slug"]: s for s in api.call(world.owner, "GET", "/api/sessions").json()["sessions"]}
    assert set(by_name) == {world.slug, "typed-two"}  # the one created above, and nobody else's
    conflict = api.call(world.owner, "PUT", "/api/workspaces/{slug}/files", slug=world.slug,
                        query={"path": "README.md"}, body={"content": "x", "version": "0" * 16}).json()
    assert conflict["error"]["code"] == "conflict" and conflict["current"]["content"].startswith("# Typed App")


def test_bad_bodies_get_422_naming_the_fields_and_change_nothing(live, api, world):
    before = fingerprint(world.app)
    bad = [
        ("POST", "/api/sessions", {"name": 5, "framework": "cobol"}, {"name", "framework"}),
        ("POST", "/api/sessions", {}, {"name", "framework"}),
        ("PUT", "/api/workspaces/{slug}/files", {"content": 5, "version": 7}, {"content", "version"}),
        ("POST", "/api/apps/{slug}/exec", {"command": "  ", "timeout": 0, "env": {"X": 1}}, {"command", "timeout", "env.X"}),
        ("POST", "/api/apps/{slug}/exec", {"command": []}, {"command"}),
        ("POST", "/api/sandbox/exec", {"command": "id"}, {"session_id"}),
        ("POST", "/api/sandbox/destroy", {}, {"session_id"}),
    ]
    for method, path, body, fields in bad:
        caller = world.admin if (method, path) in ADMIN_ONLY else world.owner
        got = api.call(caller, method, path, slug=world.slug, query={"path": "README.md"}, body=body)
        assert got.status_code == 422, f"{method} {path} {body} → {got.status_code} {got.text}"
        error = got.json()["error"]
        assert error["code"] == "invalid" and fields <= set(error["fields"]), f"{body}: {error}"
        assert all(isinstance(m, str) and m for msgs in error["fields"].values() for m in msgs)
    garbage = api.call(world.owner, "PUT", "/api/workspaces/{slug}/files", slug=world.slug,
                       query={"path": "README.md"}, raw="{not json")
    assert garbage.status_code == 400 and "not valid JSON" in garbage.json()["error"]["message"]
    assert fingerprint(world.app) == before


def _example_for(world, method, path):
    """A body an allowed caller would send, so a refusal is about who calls, not what."""
    return {
        ("POST", "/api/sessions"): {"name": "Intruder", "framework": "nextjs"},
        ("PUT", "/api/workspaces/{slug}/files"): {"content": "pwned", "version": None},
        ("POST", "/api/apps/{slug}/exec"): {"command": "touch /workspace/pwned"},
        ("POST", "/api/sandbox/exec"): {"session_id": world.slug, "command": "touch /workspace/pwned"},
        ("POST", "/api/sandbox/destroy"): {"session_id": world.slug},
        ("PUT", "/api/apps/{slug}/prod/env/{name}"): {"value": "pwned"},
        ("PUT", "/api/apps/{slug}/prod/auto-publish"): {"enabled": True},
    }.get((method, path))


def test_every_operation_refuses_anonymous_another_user_and_an_apps_token(live, api, world):
    from deployments.models import DevEnvironment

    # A dev record that a refused stop would change.
    DevEnvironment.objects.create(app=world.app, phase=DevEnvironment.Phase.FAILED, message="left as it was")
    before = fingerprint(world.app)
    failures = []
    for method, path in sorted(api.operations() - agent_operations(api)):
        body = _example_for(world, method, path)
        answers = {world.anonymous: 401, world.app_user: 401, world.stranger: 404}
        if (method, path) in ADMIN_ONLY:
            answers[world.stranger] = 403
            answers[world.owner] = 403  # owning the app is not enough
        if path in ("/api/me", "/api/sessions"):
            answers.pop(world.stranger)  # their own: covered by the owner's example calls
        for caller, expected in answers.items():
            got = api.call(caller, method, path, slug=world.slug, query={"path": "README.md"}, body=body)
            if got.status_code != expected:
                failures.append(f"{caller.name}: {method} {path} → {got.status_code}, expected {expected}")
            elif expected == 401 and caller.token:
                assert got.headers["WWW-Authenticate"].startswith("Bearer ")
    assert not failures, "\n".join(failures)
    assert fingerprint(world.app) == before
    # What a stranger's 404 says is what a missing app's says: nothing about the app.
    missing = api.call(world.stranger, "GET", "/api/sessions/{slug}", slug="no-such-app").json()
    assert api.call(world.stranger, "GET", "/api/sessions/{slug}", slug=world.slug).json() == missing


def test_a_session_cookie_write_without_csrf_is_refused_and_changes_nothing(live, api, world):
    http = live.login("typed-owner", PASSWORD)
    path, query = "/api/workspaces/{slug}/files", {"path": "README.md"}
    current = api.call(world.owner, "GET", path, slug=world.slug, query=query, http=http).json()
    before = fingerprint(world.app)

    refused = api.call(Caller("browser", None), "PUT", path, slug=world.slug, query=query, http=http,
                       body={"content": "forged\n", "version": current["version"]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert fingerprint(world.app) == before

    # The same write with the token the page has, from MGX's own origin, goes through.
    saved = api.call(Caller("browser", None), "PUT", path, slug=world.slug, query=query, http=http,
                     body={"content": "mine\n", "version": current["version"]},
                     headers={"X-CSRFToken": http.cookies["csrftoken"], "Origin": live.url})
    assert saved.status_code == 200


def test_the_docs_page_lists_the_operations_under_mgxs_csp(live, page):
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e =>"
                         " console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    answer = page.goto(f"{live.url}/api/docs")
    assert answer.status == 200 and "content-security-policy" in answer.headers
    page.wait_for_selector(".opblock-summary-path")
    shown = {(el.inner_text().strip()) for el in page.query_selector_all(".opblock-summary-path")}
    for expected in ("/api/sessions", "/api/workspaces/{slug}/files", "/api/apps/{slug}/dev/start",
                     "/api/sandbox/exec", "/api/sandbox/destroy_all", "/api/me"):
        assert any(s.replace("\u200b", "") == expected for s in shown), f"{expected} not in {sorted(shown)}"
    assert page.locator(".opblock-summary-description:has-text('Write a file')").count() == 1
    assert violations == []


def test_dev_start_status_stop_over_the_seeds_paths(live, runtime_image, api, world):
    """The seeds' script: start, poll status until ready, run a command, stop (one real container)."""
    import docker

    from containers.docker_client import container_name

    started = api.call(world.owner, "POST", "/api/apps/{slug}/dev/start", slug=world.slug)
    assert started.status_code == 202 and started.json()["phase"] == "creating"
    # The REST form of the same start while it is on its way: still 202, nothing doubled.
    again = api.call(world.owner, "POST", "/api/apps/{slug}/dev", slug=world.slug)
    assert again.status_code == 202 and again.json()["phase"] in ("creating", "installing", "starting", "ready")

    deadline = time.monotonic() + 600
    while True:
        status = api.call(world.owner, "GET", "/api/apps/{slug}/dev/status", slug=world.slug).json()
        if status["phase"] in ("ready", "failed") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status["phase"] == "ready", status
    assert status["url"].endswith(f"/apps/{world.slug}/dev/")

    ran = api.call(world.owner, "POST", "/api/sandbox/exec",
                   body={"session_id": world.slug, "command": "id -u; echo $X", "env": {"X": "seed"}})
    assert ran.status_code == 200 and ran.json()["stdout"].split() == ["1000", "seed"]
    outside = api.call(world.owner, "POST", "/api/apps/{slug}/exec", slug=world.slug, body={"command": "ls", "cwd": "../.."})
    assert outside.status_code == 400 and "'..' is not allowed" in outside.json()["error"]["message"]

    stopped = api.call(world.owner, "POST", "/api/apps/{slug}/dev/stop", slug=world.slug)
    assert stopped.status_code == 200 and stopped.json()["phase"] == "stopped"
    # Stopped and kept warm for a quick resume: paused, its route gone.
    assert docker.from_env().containers.get(container_name(slug=world.slug, role="dev")).status == "paused"
    assert api.call(world.owner, "GET", "/api/apps/{slug}/dev/status", slug=world.slug).json()["phase"] == "stopped"
