"""Configuration: defaults, then the TOML file named by GATEWAY_CONFIG, then the environment.

Keys are flat and upper-case, as Flask keeps them; ``config.example.toml`` documents each one.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    # Storage and queue. Empty: the embedded default (SQLite in the instance folder,
    # in-process session store, no Redis).
    "DATABASE_URL": "",
    "REDIS_URL": "",
    # USSD
    "USSD_SERVICE_CODE": "*123#",
    "USSD_RESUME_MINUTES": 10,  # a dropped session can be resumed this long
    "USSD_PROFILE_CACHE_DAYS": 7,  # how long a caller's language/village stay cached
    "LOOKUP_FAILURES_PER_HOUR": 5,  # enumeration guard on request-number look-ups
    "SESSION_LOG_FLUSH_SECONDS": 30,  # how often each web process writes the USSD session log
    # Webhook authentication (SPEC §6): a shared secret and/or a source-IP allow-list.
    "WEBHOOK_TOKEN": "",
    "WEBHOOK_ALLOWED_IPS": [],
    "TRUSTED_PROXIES": 0,  # how many reverse proxies set X-Forwarded-For in front of us
    # Flask
    "SECRET_KEY": "",
    "MAX_CONTENT_LENGTH": 64 * 1024,  # no webhook body is anywhere near this
}

# Environment variables that override the file (secrets and the Procfile convention).
ENV_OVERRIDES = ("DATABASE_URL", "REDIS_URL", "WEBHOOK_TOKEN", "SECRET_KEY")


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.update(DEFAULTS)
    if test_config is not None:
        app.config.update(test_config)
    else:
        path = os.environ.get("GATEWAY_CONFIG")
        if path:
            app.config.from_file(str(Path(path).resolve()), load=tomllib.load, text=False)
        for name in ENV_OVERRIDES:
            if os.environ.get(name):
                app.config[name] = os.environ[name]
    if not app.config["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'gateway.sqlite3'}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = os.urandom(32).hex()  # per process; staff log-ins come later
    app.config["EMBEDDED"] = not app.config["REDIS_URL"]
