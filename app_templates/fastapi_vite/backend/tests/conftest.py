"""A tiny stand-in for MGX's OAuth provider, on a real local HTTP port: a token endpoint
(authorization code with PKCE, password grant) and a JWKS, signing ID tokens with an RSA key made
for the test run. The app under test talks to it over HTTP exactly as it talks to MGX."""
import base64
import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

# `app.main` makes the module-level app at import from the environment. In MGX's dev container
# that names MGX's OTLP receiver, and OpenTelemetry allows one global tracer provider per
# process: the tests' own apps (and their test receiver) would never get it.
for _name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"):
    os.environ.pop(_name, None)

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402

BASE = "/apps/demo/dev"
ISSUER = "http://mgx.example/o"
CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Provider:
    def __init__(self):
        self.key, self.kid = new_key(), "key-1"
        self.codes: dict[str, dict] = {}   # code -> {"verifier", "redirect_uri", "claims"}
        self.passwords: dict[str, tuple[str, dict]] = {}
        self.requests: list[dict] = []
        self.signing_key = None  # set to another key to sign with something MGX does not publish
        self.claim_overrides: dict = {}

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, claims: dict) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **claims, **self.claim_overrides}
        return jwt.encode(body, self.signing_key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def token(self, form: dict) -> tuple[int, dict]:
        self.requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)  # one use: a replay finds nothing
            if grant is None:
                return 400, {"error": "invalid_grant", "error_description": "Invalid grant"}
            challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
            if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
                return 400, {"error": "invalid_grant", "error_description": "Code verifier or redirect URI mismatch"}
            return 200, {"access_token": "at", "token_type": "Bearer", "id_token": self.id_token(grant["claims"])}
        if form.get("grant_type") == "password":
            password, claims = self.passwords.get(form.get("username", ""), (None, None))
            if password is None or password != form.get("password"):
                return 400, {"error": "invalid_grant", "error_description": "Wrong username or password."}
            return 200, {"access_token": "at", "token_type": "Bearer", "id_token": self.id_token(claims)}
        return 400, {"error": "unsupported_grant_type"}


@pytest.fixture
def provider():
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send(200, state.jwks()) if self.path == "/jwks" else self._send(404, {})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            self._send(*state.token(form)) if self.path == "/token" else self._send(404, {})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def make_settings(provider=None, **overrides) -> Settings:
    values = dict(base_path=BASE, app_slug="demo", apps_url="http://apps.example", session_secret="s3cret",
                  mongodb_url="", mongodb_db="app_demo")
    if provider is not None:
        values.update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer=ISSUER,
                      authorize_url="http://mgx.example/o/authorize/", token_url=f"{provider.url}/token",
                      jwks_url=f"{provider.url}/jwks", logout_url="http://mgx.example/o/logout/")
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client_for():
    clients = []

    def build(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings), base_url="http://apps.example", follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
