"""The application factory and its configuration sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from gateway.session_store import MemoryStore, RedisStore
from tests.helpers import REDIS_URL


def test_test_config_is_used_as_given(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "TESTING": True})
    assert app.testing
    assert app.config["DATABASE_URL"].endswith("x.sqlite3")
    assert isinstance(app.extensions["gateway"].store, MemoryStore)


def test_embedded_default_needs_no_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GATEWAY_CONFIG", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app()
    assert app.config["EMBEDDED"] is True
    assert app.config["DATABASE_URL"] == (
        f"sqlite:///{Path(app.instance_path) / 'gateway.sqlite3'}"
    )
    assert isinstance(app.extensions["gateway"].store, MemoryStore)


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'DATABASE_URL = "sqlite:///from-file.sqlite3"\n'
        'USSD_SERVICE_CODE = "*456#"\n'
        'WEBHOOK_ALLOWED_IPS = ["10.0.0.0/8"]\n'
    )
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app()
    assert app.config["DATABASE_URL"] == "sqlite:///from-file.sqlite3"
    assert app.config["USSD_SERVICE_CODE"] == "*456#"
    assert app.config["WEBHOOK_ALLOWED_IPS"] == ["10.0.0.0/8"]

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/from-env.sqlite3")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    app = create_app()
    assert app.config["DATABASE_URL"].endswith("from-env.sqlite3")
    assert app.config["EMBEDDED"] is False
    assert isinstance(app.extensions["gateway"].store, RedisStore)


def test_a_bad_allow_list_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
                "WEBHOOK_ALLOWED_IPS": ["not-an-address"],
            }
        )


def test_postgres_url_spellings_are_accepted() -> None:
    from storage.db import make_engine

    for url in ("postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"):
        assert make_engine(url).url.drivername == "postgresql+psycopg"


def test_healthz(client: Flask) -> None:
    response = client.get("/healthz")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok\n"


def test_healthz_reports_a_dead_database(tmp_path: Path) -> None:
    app = create_app(
        {"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "TESTING": True}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_data(as_text=True).startswith("database: OperationalError")


def test_config_example_documents_every_key_with_its_default() -> None:
    import tomllib

    from common.settings import DEFAULTS

    with (Path(__file__).parents[1] / "config.example.toml").open("rb") as f:
        example = tomllib.load(f)
    assert set(example) == set(DEFAULTS)
    assert {k: v for k, v in example.items() if DEFAULTS[k] != v} == {}


def test_metrics(client: Flask, phone: Any) -> None:
    phone.dial()
    body = client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'gateway_request_seconds_count{endpoint="ussd.ussd_hop"}' in body
    assert 'gateway_outbox_messages{status="queued"} 0.0' in body
