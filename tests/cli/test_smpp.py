"""``flask --app gateway smpp`` refuses to start with one line when there is no bind to hold.
(It running for real: tests/workers/smpp/test_process.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from tests.helpers import REDIS_URL, fails, run


def test_without_the_smpp_provider_there_is_nothing_to_hold(runner: Any) -> None:
    fails(run(runner, "smpp"), 'neither SMS_PROVIDER nor SMS_ROUTES names "smpp"')


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SMPP_HOST": ""}, "set SMPP_HOST and SMPP_SYSTEM_ID"),
        ({"SMPP_SPLIT": "sar"}, "SMPP_SPLIT must be udh or payload"),
    ],
)
def test_missing_or_wrong_smpp_settings_are_named(
    app_config: dict[str, Any], settings: dict[str, Any], message: str
) -> None:
    if not app_config["REDIS_URL"]:
        pytest.skip("the embedded default has no Redis: refused at start-up (next test)")
    app: Flask = create_app(
        {
            "TESTING": True,
            **app_config,
            "SMS_PROVIDER": "smpp",
            "SMPP_HOST": "127.0.0.1",
            "SMPP_SYSTEM_ID": "adminduk",
            **settings,
        }
    )
    fails(run(app.test_cli_runner(), "smpp"), message)
    app.extensions["gateway"].db.dispose()


def test_smpp_without_redis_is_refused_at_start_up(app_config: dict[str, Any]) -> None:
    if app_config["REDIS_URL"]:
        pytest.skip("only the embedded default has no Redis")
    with pytest.raises(ValueError, match="needs REDIS_URL"):
        create_app({"TESTING": True, **app_config, "SMS_PROVIDER": "smpp"})


def test_a_sweep_that_would_take_back_what_the_bind_still_submits_is_refused(
    app_config: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="SMS_STUCK_AFTER_SECONDS must be well above"):
        create_app(
            {
                "TESTING": True,
                **app_config,
                "REDIS_URL": REDIS_URL,
                "SMS_PROVIDER": "smpp",
                "SMPP_SUBMIT_TIMEOUT_SECONDS": 60,
                "SMS_STUCK_AFTER_SECONDS": 60,
            }
        )
