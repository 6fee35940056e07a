"""The ``postgres_url`` fixture on the real test server: each test gets a database of its own, empty and writable,
and the database is gone once the test is over."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import postgres_database

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("body", ["first", "second"])
def test_each_test_gets_an_empty_writable_database(postgres_url: str, body: str) -> None:
    # the same table in both cases: the second would fail on a database shared with the first
    with psycopg.connect(postgres_url) as conn:
        assert conn.info.dbname.startswith("wb_test_")
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes (body) VALUES (%s)", (body,))
        conn.commit()
    with psycopg.connect(postgres_url) as conn:  # committed: a second connection reads it back
        assert conn.execute("SELECT id, body FROM notes").fetchall() == [(1, body)]


def test_the_database_is_dropped_afterwards_even_with_a_connection_open(postgres_server_url: str) -> None:
    with postgres_database(postgres_server_url) as url:
        left_open = psycopg.connect(url, autocommit=True)
        name = left_open.info.dbname
        left_open.execute("CREATE TABLE t (x int)")
    try:
        with pytest.raises(psycopg.OperationalError):  # DROP ... WITH (FORCE) ended its session
            left_open.execute("SELECT 1")
    finally:
        left_open.close()
    with psycopg.connect(postgres_server_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)
