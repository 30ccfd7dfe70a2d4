"""Every command answers ``--help`` with a usage line and a text of its own."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask

from tests.helpers import ok, run


def _all_commands(app: Flask) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [()]
    for name, command in app.cli.commands.items():
        paths.append((name,))
        if isinstance(command, click.Group):
            paths.extend((name, sub) for sub in command.commands)
    return paths


def test_every_command_has_help(app: Flask, runner: Any) -> None:
    paths = _all_commands(app)
    # README's "Operator CLI" lists these: a command added or lost shows up here
    commands = {
        ("db", "upgrade"),
        ("db", "revision"),
        ("regions", "import"),
        ("demo",),
        ("requests", "add"),
        ("requests", "set-status"),
        ("visits", "add"),
        ("visits", "list"),
        ("visits", "publish"),
        ("visits", "edit"),
        ("visits", "cancel"),
        ("bookings", "list"),
        ("bookings", "schedule"),
        ("bookings", "done"),
        ("bookings", "cancel"),
        ("callbacks", "list"),
        ("callbacks", "mark"),
        ("residents", "import"),
        ("broadcast",),
        ("outbox", "list"),
        ("outbox", "retry"),
        ("outbox", "sweep"),
        ("worker",),
        ("smpp",),
        ("android", "webhooks"),
        ("sessions", "flush"),
        ("users", "create"),
        ("dial",),
        ("voice", "render"),
    }
    groups = {(path[0],) for path in commands if len(path) == 2}
    assert set(paths) == {(), *commands, *groups}
    for path in paths:
        out = ok(run(runner, *path, "--help"))
        assert out.startswith("Usage: "), path
        assert "Traceback" not in out
        if path:
            help_text = app.cli.commands[path[0]]
            if len(path) == 2:
                help_text = help_text.commands[path[1]]  # type: ignore[attr-defined]
            assert help_text.help or help_text.short_help, f"{path} has no help text"
