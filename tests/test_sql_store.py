"""The SQL store is SQLite by default and PostgreSQL when DATABASE_URL names one (the suite's
PostgreSQL pass: MGX_TEST_POSTGRES=1); the live processes use the same database as the tests."""
import os

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_suite_runs_on_the_sql_store_it_was_asked_for(live, user_factory):
    on_postgres = os.environ.get("MGX_TEST_POSTGRES", "").lower() in ("1", "true", "yes")
    assert connection.vendor == ("postgresql" if on_postgres else "sqlite")
    if on_postgres:
        assert connection.Database.__name__ == "psycopg"  # psycopg 3, not psycopg2
    user = user_factory(username="sqlstore")
    # Made by the test process, logged in through the live Daphne: one database for both.
    assert live.login("sqlstore", user.raw_password).get(f"{live.url}/api/me", timeout=10).json()["username"] == "sqlstore"
