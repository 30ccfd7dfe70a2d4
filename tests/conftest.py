"""Fixtures: the app on both configurations, its database, a test client, a CLI runner, and a
phone. Plain functions and constants the tests share are in tests/helpers.py.

``backend`` runs a test twice: "embedded" (SQLite file + in-process session store, the default
a newcomer gets) and "production" (PostgreSQL + Redis, real servers on 127.0.0.1). The
PostgreSQL side works in a schema of its own per test run, so runs never see each other.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from gateway import create_app
from gateway.runtime import runtime
from storage import migrate
from storage.db import Database
from storage.models import Base
from storage.regions import import_regions
from tests.fake_africastalking import FakeAfricasTalking
from tests.helpers import PG_BASE, REDIS_URL, Phone
from tests.live_servers import RQWorkers

# A test needs the servers when it uses one of these fixtures, directly or through another (the
# app runs on both configurations: PostgreSQL and Redis for "production"; ``workers`` starts
# processes): it is then marked ``servers`` (pyproject.toml). A test that starts servers of its
# own, or a fixture parameter that needs them, carries the mark itself. `make test-fast` runs
# the rest: pytest -m "not servers".
SERVER_FIXTURES = frozenset(
    {
        *("app", "app_config", "backend", "client", "runner", "phone", "db"),
        *("sqlite_template", "pg_schema_url", "pg_url", "redis_client", "workers"),
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def _prepare(url: str) -> None:
    db = Database(url)
    migrate.upgrade(db.engine)
    with db.begin() as session:
        import_regions(session)
    db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the regions, copied for each test (fast and isolated)."""
    path = tmp_path_factory.mktemp("template") / "gateway.sqlite3"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A migrated PostgreSQL schema for this test run, dropped at the end."""
    schema = f"gw_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    _prepare(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "regions")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def pg_url(pg_schema_url: str) -> str:
    """This run's PostgreSQL schema, emptied (the regions kept), for code that takes a URL."""
    _truncate_pg(pg_schema_url)
    return pg_schema_url


@pytest.fixture
def fake() -> Iterator[FakeAfricasTalking]:
    """A local server speaking Africa's Talking's SMS API (tests/fake_africastalking.py)."""
    with FakeAfricasTalking(api_key="test-key", username="adminduk") as server:
        yield server


@pytest.fixture
def workers(settings: dict[str, Any], tmp_path: Path) -> Iterator[RQWorkers]:
    """Real ``rq worker`` processes on the test module's ``settings`` (started by the test)."""
    pool = RQWorkers(settings, tmp_path)
    yield pool
    pool.stop()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app_config(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if backend == "embedded":
        path = tmp_path / "gateway.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        # Tests drive the sender and sweep themselves, deterministically.
        return {"DATABASE_URL": f"sqlite:///{path}", "REDIS_URL": "", "RUN_JOBS_IN_PROCESS": False}
    url = request.getfixturevalue("pg_schema_url")
    _truncate_pg(url)
    request.getfixturevalue("redis_client")  # a clean Redis database
    return {"DATABASE_URL": url, "REDIS_URL": REDIS_URL}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({"TESTING": True, **app_config})
    yield app
    app.extensions["gateway"].db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def phone(client: FlaskClient) -> Phone:
    """A feature phone on the test client (tests/helpers.py), dialling from ``ME``."""
    return Phone(client)


@pytest.fixture
def db(app: Flask) -> Database:
    """The app's database: migrated, with the region list imported."""
    return runtime(app).db
