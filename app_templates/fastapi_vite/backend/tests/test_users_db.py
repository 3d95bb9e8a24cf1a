"""The users collection in the app's own MongoDB: one document per MGX user (unique `sub`),
upserted on every login. Needs a real MongoDB: set MONGODB_URL and MONGODB_DB (MGX's dev
containers get both)."""
import os
import uuid
from datetime import datetime

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from .conftest import BASE, make_settings

MONGODB_URL = os.environ.get("MONGODB_URL", "")
# The app's own database, the only one its MONGODB_URL opens; the test touches only a user of its
# own, with a subject no real login has, and removes it afterwards.
MONGODB_DB = os.environ.get("MONGODB_DB", "app_demo")
pytestmark = pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set: no MongoDB to test the user upsert against")


@pytest.fixture
def sub():
    sub = f"test-{uuid.uuid4().hex[:12]}"
    yield sub
    with MongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000) as client:
        client[MONGODB_DB].users.delete_many({"sub": sub})


def test_every_login_upserts_the_user_and_sub_is_unique(provider, client_for, sub):
    client = client_for(make_settings(provider, mongodb_url=MONGODB_URL, mongodb_db=MONGODB_DB))
    provider.passwords["alice"] = ("pw", {"sub": sub, "preferred_username": "alice", "email": "a@example.com"})
    users = MongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000)[MONGODB_DB].users

    assert client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"}).status_code == 302
    first = users.find_one({"sub": sub})
    assert first["username"] == "alice" and first["email"] == "a@example.com" and first["created_at"]

    provider.passwords["alice"] = ("pw", {"sub": sub, "preferred_username": "alice", "email": "new@example.com"})
    assert client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"}).status_code == 302

    assert users.count_documents({"sub": sub}) == 1
    second = users.find_one({"sub": sub})
    assert second["email"] == "new@example.com" and second["created_at"] == first["created_at"]
    assert isinstance(second["last_login"], datetime) and second["last_login"] > first["last_login"]
    assert any(index["key"] == [("sub", 1)] and index.get("unique") for index in users.index_information().values())
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"sub": sub, "username": "mallory"})
