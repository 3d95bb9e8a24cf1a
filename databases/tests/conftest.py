"""Callers of the database API over real TCP: Daphne (the `live` stack), bearer tokens from
MGX's provider, and the apps' wire-protocol store the test run started."""
import pymongo
import pytest
import requests
from django.conf import settings

PASSWORD = "correct horse battery"


def bearer(live, username, password=PASSWORD) -> str:
    got = requests.post(f"{live.url}/oauth2/token/", timeout=10, data={
        "grant_type": "password", "client_id": "mgx", "username": username, "password": password})
    assert got.status_code == 200, got.text
    return got.json()["access_token"]


class DbApi:
    def __init__(self, live, slug, token):
        self.base = f"{live.url}/api/apps/{slug}/db/collections"
        self.headers = {"Authorization": f"Bearer {token}"}

    def __call__(self, method, path="", *, body=None, raw=None, params=None, headers=None):
        data = raw if raw is not None else (None if body is None else __import__("json").dumps(body))
        send = {**self.headers, **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})}
        return requests.request(method, self.base + path, data=data, params=params, headers=send, timeout=30)


@pytest.fixture
def apps_store():
    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as client:
        yield client


@pytest.fixture
def owner_api(live, app_factory, user_factory):
    owner = user_factory(username="db-owner", password=PASSWORD)
    app = app_factory(owner=owner, name="Ledger")
    api = DbApi(live, app.slug, bearer(live, "db-owner"))
    api.app, api.owner = app, owner
    return api


@pytest.fixture(autouse=True)
def _empty_apps_store(apps_store):
    """The store outlives each test's SQL rollback: an app slug reused by the next test must
    find its database empty, as a new app's would be."""
    for name in apps_store.list_database_names():
        if name.startswith("app_") or name == "mgx":
            apps_store.drop_database(name)
    yield


@pytest.fixture(scope="session")
def node_driver(layout):
    """The Node `mongodb` driver the Next.js template pins, installed once per test run, with the
    probe script beside it; readable by the app user (uid 1000) when mounted into a container."""
    import os
    import subprocess

    from .clients import NODE_DRIVER, NODE_PROBE

    target = layout.var_dir / "node-mongodb"
    if not (target / "node_modules" / "mongodb").is_dir():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(target), NODE_DRIVER],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    (target / "probe.cjs").write_text(NODE_PROBE)
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return target
