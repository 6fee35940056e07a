"""Shared test setup: quiet offline environment and an isolated WORKBENCH_HOME per test session; a fresh
PostgreSQL database per test for the cases that ask for ``postgres_url``."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

for key, value in {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
    "OPENAI_API_KEY": "",
    "GROQ_API_KEY": "",
    # the scripted fake/ models are offered only where this is on
    "WORKBENCH_TESTING": "true",
}.items():
    os.environ[key] = value


# --- PostgreSQL: a real server (scripts/postgres.sh; .ci/run starts one), a fresh database for each test ----------

POSTGRES_HINT = "set WORKBENCH_TEST_POSTGRES_URL (bash scripts/postgres.sh start prints one)"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """WORKBENCH_TEST_POSTGRES_URL, checked once: a server whose role may create databases. Without it the
    PostgreSQL cases are skipped, except in CI (``CI`` set), where they fail instead."""
    url = os.environ.get("WORKBENCH_TEST_POSTGRES_URL", "").strip()
    if not url:
        message = f"PostgreSQL tests need a server: {POSTGRES_HINT}"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}; Postgres cases are not skipped in CI", pytrace=False)
        pytest.skip(message)
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        pytest.fail(f"WORKBENCH_TEST_POSTGRES_URL={url} does not answer ({error}); {POSTGRES_HINT}", pytrace=False)
    return url


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new empty database ``wb_test_<12 hex>`` on the server of ``server_url`` (created through the URL's own
    database), yielded as a URL; dropped ``WITH (FORCE)`` afterwards, connections still open on it included."""
    import psycopg
    from psycopg import sql

    name = f"wb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """The URL of a database of this test's own on the test server: empty, writable, dropped afterwards."""
    with postgres_database(postgres_server_url) as url:
        yield url


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` and what it holds made read-only, for root too (immutable)."""
    paths = [folder, *folder.rglob("*")]
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        else:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)
