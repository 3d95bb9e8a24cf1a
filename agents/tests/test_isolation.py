"""What an agent container can reach, probed from inside a real one started exactly as the
service starts it (`agents.containers.agent_container_config`), and the internal API's own
edges: the preview fetch never follows a redirect, checkpoints are opaque to the host."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import docker
import pytest
import requests
from django.conf import settings as django_settings

from agents.selectors import model_config
from agents.testing import agent_run
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db(transaction=True)

PROBE = r"""
import json, os, socket, sys, urllib.request, urllib.error
cfg = json.loads(sys.argv[1])
out = {"uid": os.getuid(), "env": sorted(os.environ), "paths": {}, "tcp": {}, "http": {}}
for p in cfg["paths"]:
    out["paths"][p] = os.path.exists(p)
for name, (host, port) in cfg["tcp"].items():
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(3)
    try:
        s.connect((host, port))
        out["tcp"][name] = "open"
    except OSError as exc:
        out["tcp"][name] = type(exc).__name__
    finally:
        s.close()
for name, url in cfg["http"].items():
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ.get("MGX_AGENT_TOKEN", "")})
    try:
        with urllib.request.urlopen(req, timeout=10) as got:
            out["http"][name] = [got.status, got.read(2000).decode(errors="replace")]
    except urllib.error.HTTPError as exc:
        out["http"][name] = [exc.code, ""]
    except OSError as exc:
        out["http"][name] = [0, type(exc).__name__]
try:
    open("/srv/mgx/agents/planted.py", "w")
    out["code_writable"] = True
except OSError:
    out["code_writable"] = False
print("PROBE" + json.dumps(out))
"""


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def test_from_inside_the_agent_container_only_the_internal_agent_api_answers(agent_image, live, app_factory):
    from agents.containers import agent_container_config

    app = app_factory(name="Probe App")
    run = agent_run(session=app.slug, status="running")
    config = agent_container_config(app=app, run_id=run.run_id, token=run.token, workspace_root=workspace_for(app).root,
                                    model=model_config())
    api = config["environment"]["MGX_AGENT_API_URL"]
    daphne = live.stack["daphne"]
    var_dir = Path(django_settings.VAR_DIR)
    probe = {
        "paths": ["/srv/mgx/var", "/srv/mgx/var/secret_key", "/srv/mgx/.venv", "/srv/mgx/.git",
                  str(var_dir), str(var_dir / "secret_key"), "/var/run/docker.sock"],
        "tcp": {
            "redis": ["host.docker.internal", _port(django_settings.MGX_REDIS_URL)],
            "mongo": ["host.docker.internal", _port(django_settings.MGX_MONGO_URL)],
            "daphne": ["host.docker.internal", daphne.port],
            "redis_loopback": ["127.0.0.1", _port(django_settings.MGX_REDIS_URL)],
            "mongo_loopback": ["127.0.0.1", _port(django_settings.MGX_MONGO_URL)],
            "daphne_loopback": ["127.0.0.1", daphne.port],
        },
        "http": {
            "run": f"{api}/run",
            "admin": api.replace("/internal/agent", "/admin/"),
            "me": api.replace("/internal/agent", "/api/me"),
            "healthz": api.replace("/internal/agent", "/healthz"),
            "dashboard": api.replace("/internal/agent", "/"),
        },
    }
    config = dict(config, command=["python3", "-c", PROBE, json.dumps(probe)], name=config["name"] + "-probe")
    engine = docker.from_env()
    container = engine.containers.run(**config)
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0, container.logs().decode()
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    seen = json.loads(logs.split("PROBE", 1)[1])

    assert seen["uid"] != 0
    assert not any(seen["paths"].values()), seen["paths"]  # no var/, no secret, no venv, no socket
    assert seen["code_writable"] is False
    assert not {"MGX_MONGO_URL", "MGX_REDIS_URL", "MGX_OIDC_RSA_PRIVATE_KEY"} & set(seen["env"])
    assert config["environment"]["MGX_SECRET_KEY"] != django_settings.SECRET_KEY
    assert all(state != "open" for state in seen["tcp"].values()), seen["tcp"]
    assert seen["http"]["run"][0] == 200 and json.loads(seen["http"]["run"][1])["session"] == app.slug
    for name in ("admin", "me", "healthz", "dashboard"):
        assert seen["http"][name][0] == 404, (name, seen["http"][name])


def test_the_code_mounts_never_include_the_var_dir(live, app_factory, settings):
    from agents.containers import AgentConfigError, agent_container_config

    app = app_factory(name="Var Guard")
    token = agent_run(session=app.slug, status="running").token
    config = agent_container_config(app=app, run_id="r", token=token, workspace_root=workspace_for(app).root,
                                    model=model_config())
    base = Path(django_settings.BASE_DIR)
    sources = {Path(src) for src, spec in config["volumes"].items() if spec["mode"] == "ro"}
    assert sources and all(src.is_relative_to(base) and src != base for src in sources)
    assert not {base / "var", base / ".venv", base / ".git"} & sources
    # A var dir placed inside a mounted code directory is refused rather than exposed.
    settings.VAR_DIR = base / "agents" / "var"
    with pytest.raises(AgentConfigError):
        agent_container_config(app=app, run_id="r", token=token, workspace_root=workspace_for(app).root,
                               model=model_config())


def test_a_loopback_model_url_is_rewritten_for_the_container(settings):
    from agents.containers import container_llm_url

    assert container_llm_url("http://127.0.0.1:11434/v1") == "http://host.docker.internal:11434/v1"
    assert container_llm_url("http://localhost/v1") == "http://host.docker.internal/v1"
    assert container_llm_url("http://[::1]:8080/v1") == "http://host.docker.internal:8080/v1"
    assert container_llm_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert container_llm_url("") == ""


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_preview_returns_a_redirect_instead_of_following_it(live, app_factory, agent_api_url):
    from deployments.models import DevEnvironment

    daphne = live.stack["daphne"]
    handler = type("Redirector", (_Redirector,), {"target": f"http://127.0.0.1:{daphne.port}/healthz"})
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        app = app_factory(name="Redirect App")
        DevEnvironment.objects.create(app=app, phase=DevEnvironment.Phase.READY, host_port=upstream.server_address[1])
        token = agent_run(session=app.slug, status="running").token
        got = requests.get(f"{agent_api_url}/preview", params={"path": "/"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    finally:
        upstream.shutdown()
    assert got.status_code == 200
    answer = got.json()
    assert answer["status"] == 302
    assert f"127.0.0.1:{daphne.port}/healthz" in answer["body"]
    assert "redis" not in answer["body"].lower() and "celery" not in answer["body"].lower()


def test_checkpoints_are_stored_and_returned_as_opaque_bytes(live, app_factory, agent_api_url, tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "host-ran-it"), "w"))

    blob = pickle.dumps(Boom())
    app = app_factory(name="Opaque App")
    token = agent_run(session=app.slug, status="running").token
    auth = {"Authorization": f"Bearer {token}"}
    b64 = base64.b64encode(blob).decode()
    put = requests.post(f"{agent_api_url}/checkpoints", headers=auth, timeout=10, json={
        "ns": "", "id": "0001", "parent_id": "", "type": "pickle", "checkpoint": b64,
        "metadata_type": "pickle", "metadata": b64})
    assert put.status_code == 200, put.text
    wrote = requests.post(f"{agent_api_url}/checkpoints/writes", headers=auth, timeout=10, json={
        "ns": "", "checkpoint_id": "0001", "task_id": "t1", "task_path": "", "replace": False,
        "writes": [{"idx": 0, "channel": "messages", "type": "pickle", "value": b64}]})
    assert wrote.status_code == 200, wrote.text
    got = requests.get(f"{agent_api_url}/checkpoints/latest", headers=auth, params={"ns": ""}, timeout=10).json()
    assert got["checkpoint"]["id"] == "0001"
    assert base64.b64decode(got["checkpoint"]["checkpoint"]) == blob
    assert base64.b64decode(got["checkpoint"]["writes"][0]["value"]) == blob
    assert not (tmp_path / "host-ran-it").exists()

    from agents.services import conversation_forget

    conversation_forget(session=app.slug)
    gone = requests.get(f"{agent_api_url}/checkpoints/latest", headers=auth, params={"ns": ""}, timeout=10).json()
    assert gone["checkpoint"] is None
