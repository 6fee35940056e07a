"""The run log's migrations: ordered functions, each applied once per database file and recorded in
``_migrations``; append new ones, never edit old ones. :func:`~workbench.runlog.schema.connect` applies them on the
first connection of a process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb

logger = logging.getLogger(__name__)

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    """The ``runs`` and ``events`` tables."""
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS runs (
            run_id VARCHAR PRIMARY KEY,
            graph VARCHAR,
            entry_point VARCHAR,
            session_id VARCHAR,
            model VARCHAR,
            prompt_version VARCHAR,
            input VARCHAR,
            output VARCHAR,
            status VARCHAR,
            error VARCHAR,
            started_at TIMESTAMPTZ,
            ended_at TIMESTAMPTZ,
            ttft_ms DOUBLE,
            tokens_in INTEGER,
            tokens_out INTEGER,
            retrieved JSON,
            metadata JSON
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS events (
            run_id VARCHAR,
            seq INTEGER,
            node VARCHAR,
            kind VARCHAR,
            started_at TIMESTAMPTZ,
            ended_at TIMESTAMPTZ,
            duration_ms DOUBLE,
            status VARCHAR,
            detail JSON,
            PRIMARY KEY (run_id, seq)
        )
        """
    )


def m002_audit(con: duckdb.DuckDBPyConnection) -> None:
    """The repo audit's ``tasks``, ``repositories``, ``findings`` and ``agent_logs`` tables."""
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS tasks (
            task_id VARCHAR PRIMARY KEY,
            repo VARCHAR,
            ref VARCHAR,
            agents JSON,
            status VARCHAR,
            progress DOUBLE,
            created_at TIMESTAMPTZ,
            started_at TIMESTAMPTZ,
            ended_at TIMESTAMPTZ,
            error VARCHAR,
            run_id VARCHAR,
            repo_id VARCHAR,
            "commit" VARCHAR,
            agent_states JSON,
            counts JSON,
            report JSON
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS repositories (
            repo_id VARCHAR PRIMARY KEY,
            location VARCHAR,
            kind VARCHAR,
            last_commit VARCHAR,
            last_task_id VARCHAR,
            last_audited_at TIMESTAMPTZ,
            files BIGINT,
            lines BIGINT,
            languages JSON
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS findings (
            task_id VARCHAR,
            seq INTEGER,
            rule VARCHAR,
            category VARCHAR,
            severity VARCHAR,
            confidence VARCHAR,
            file VARCHAR,
            message VARCHAR,
            agent VARCHAR,
            cwe INTEGER,
            line INTEGER,
            end_line INTEGER,
            evidence VARCHAR,
            tools JSON,
            agents JSON,
            agreement INTEGER,
            llm_verdict VARCHAR,
            llm_note VARCHAR,
            suggested_fix VARCHAR,
            score DOUBLE,
            PRIMARY KEY (task_id, seq)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS agent_logs (
            task_id VARCHAR,
            seq INTEGER,
            type VARCHAR,
            ts TIMESTAMPTZ,
            agent VARCHAR,
            step VARCHAR,
            message VARCHAR,
            percent DOUBLE,
            data JSON,
            PRIMARY KEY (task_id, seq)
        )
        """
    )


def m003_owners(con: duckdb.DuckDBPyConnection) -> None:
    """The process that runs each run and task (``owner``), so a restart reaps only what a stopped process left."""
    con.execute("ALTER TABLE runs ADD COLUMN owner VARCHAR")
    con.execute("ALTER TABLE tasks ADD COLUMN owner VARCHAR")


def m004_spans(con: duckdb.DuckDBPyConnection) -> None:
    """The ``spans`` table: every run's trace, one row per OpenTelemetry span."""
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS spans (
            run_id VARCHAR,
            span_id VARCHAR,
            trace_id VARCHAR,
            parent_id VARCHAR,
            name VARCHAR,
            kind VARCHAR,
            started_at TIMESTAMPTZ,
            ended_at TIMESTAMPTZ,
            duration_ms DOUBLE,
            status VARCHAR,
            error VARCHAR,
            attributes JSON,
            PRIMARY KEY (run_id, span_id)
        )
        """
    )


def m005_settled(con: duckdb.DuckDBPyConnection) -> None:
    """Whether a run's row is the verdict its client heard from another process (see ``RunRecord.settled``)."""
    con.execute("ALTER TABLE runs ADD COLUMN settled BOOLEAN")


MIGRATIONS: tuple[Migration, ...] = (m001_initial, m002_audit, m003_owners, m004_spans, m005_settled)
"""Applied in order, each once per database file; append new ones (``m002_...``), never edit old ones."""


def migrate(con: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded in ``_migrations``; return the names applied now.

    Each migration and its record commit together. A concurrent migrator (another process that got the file
    first) shows up as "already exists" errors, which are tolerated.
    """
    con.execute("CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
    done = {row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
    applied: list[str] = []
    for migration in migrations:
        name = migration.__name__
        if name in done:
            continue
        con.begin()
        try:
            migration(con)
            con.execute("INSERT INTO _migrations VALUES (?, now())", [name])
            con.commit()
        except (duckdb.CatalogException, duckdb.ConstraintException) as exc:
            con.rollback()
            if "already exists" not in str(exc) and "Duplicate key" not in str(exc):
                raise
            logger.info("run log migration %s was applied concurrently: %s", name, exc)
            continue
        applied.append(name)
    return applied
