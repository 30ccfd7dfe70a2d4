"""Flask configuration from the shared settings (common/settings.py), plus the embedded
default's SQLite file in the instance folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from common.settings import default_sqlite_url, load_settings


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.update(load_settings(test_config))
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = default_sqlite_url(Path(app.instance_path))
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    if not app.config["VOICE_AUDIO_DIR"]:
        app.config["VOICE_AUDIO_DIR"] = str(Path(app.instance_path) / "voice")
    app.config["EMBEDDED"] = not app.config["REDIS_URL"]


def _instance_secret(folder: Path) -> str:
    """A key kept in the instance folder, shared by every process on this machine, so staff
    sessions survive restarts. Several machines: set SECRET_KEY in the environment instead."""
    path = folder / "secret_key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(os.urandom(32).hex())
    return path.read_text().strip()
