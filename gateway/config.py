"""Flask configuration from the shared settings (storage/settings.py), plus the embedded
default's SQLite file in the instance folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from storage.settings import default_sqlite_url, load_settings


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.update(load_settings(test_config))
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = default_sqlite_url(Path(app.instance_path))
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = os.urandom(32).hex()  # per process; staff log-ins come later
    app.config["EMBEDDED"] = not app.config["REDIS_URL"]
