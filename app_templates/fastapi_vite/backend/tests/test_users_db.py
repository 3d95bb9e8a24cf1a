"""The users collection in the app's own MongoDB: one document per MGX user (unique `sub`),
upserted on every login. Needs a real MongoDB: set MONGODB_URL (MGX's dev containers get it)."""
import os
import uuid
from datetime import datetime

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from .conftest import BASE, make_settings

MONGODB_URL = os.environ.get("MONGODB_URL", "")
pytestmark = pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set: no MongoDB to test the user upsert against")


@pytest.fixture
def database_name():
    name = f"test_{uuid.uuid4().hex[:12]}"  # never the app's real database
    yield name
    MongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000).drop_database(name)


def test_every_login_upserts_the_user_and_sub_is_unique(provider, client_for, database_name):
    client = client_for(make_settings(provider, mongodb_url=MONGODB_URL, mongodb_db=database_name))
    provider.passwords["alice"] = ("pw", {"sub": "42", "preferred_username": "alice", "email": "a@example.com"})
    users = MongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000)[database_name].users

    assert client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"}).status_code == 302
    first = users.find_one({"sub": "42"})
    assert first["username"] == "alice" and first["email"] == "a@example.com" and first["created_at"]

    provider.passwords["alice"] = ("pw", {"sub": "42", "preferred_username": "alice", "email": "new@example.com"})
    assert client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"}).status_code == 302

    assert users.count_documents({}) == 1
    second = users.find_one({"sub": "42"})
    assert second["email"] == "new@example.com" and second["created_at"] == first["created_at"]
    assert isinstance(second["last_login"], datetime) and second["last_login"] > first["last_login"]
    assert any(index["key"] == [("sub", 1)] and index.get("unique") for index in users.index_information().values())
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"sub": "42", "username": "mallory"})
