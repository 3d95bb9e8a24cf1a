"""An app's connection string cannot read another app's database. That needs a MongoDB that
enforces authentication; the apps' embedded store (nx-27017) has no users or roles, so the
test runs only when MGX_TEST_AUTH_MONGO_URL names such a server (an admin connection string)."""
import os

import pymongo
import pytest

from databases import isolation

pytestmark = pytest.mark.django_db

AUTH_URL = os.environ.get("MGX_TEST_AUTH_MONGO_URL", "")


@pytest.mark.skipif(not AUTH_URL, reason="needs a MongoDB with authentication (set MGX_TEST_AUTH_MONGO_URL); "
                                         "the embedded nx-27017 store has no users or roles to enforce")
def test_an_apps_user_reads_its_database_and_no_other(app_factory, settings):
    settings.MGX_APPS_MONGO_URL, settings.MGX_APPS_MONGO_AUTH = AUTH_URL, True
    mine, theirs = app_factory(name="Mine App"), app_factory(name="Their App")
    for app in (mine, theirs):
        isolation.app_user_ensure(app=app)
    with pymongo.MongoClient(AUTH_URL) as admin:
        admin["app_their-app"]["secrets"].insert_one({"s": 1})
        admin["mgx"]["secrets"].insert_one({"s": 1})
    with pymongo.MongoClient(isolation.app_mongo_url(app=mine, base_url=AUTH_URL)) as client:
        client["app_mine-app"]["notes"].insert_one({"n": 1})
        assert client["app_mine-app"]["notes"].count_documents({}) == 1
        for other in ("app_their-app", "mgx", "admin"):
            with pytest.raises(pymongo.errors.OperationFailure):
                client[other]["secrets"].find_one()


def test_the_connection_string_names_the_apps_own_user_and_database(app_factory, settings):
    app = app_factory(name="Mine App")
    url = isolation.app_mongo_url(app=app, base_url="mongodb://root:pw@mongo:27017/admin")
    assert url.startswith("mongodb://app_mine-app:") and url.endswith("@mongo:27017/app_mine-app?authSource=app_mine-app")
    assert "root" not in url and isolation.app_mongo_password(app=app) not in isolation.app_mongo_url(
        app=app_factory(name="Other App"), base_url="mongodb://mongo:27017/")
