"""The operator CLI: ``flask --app gateway COMMAND``. Every command has --help, is scriptable
(no prompts unless asked), and fails with one clear line on bad input.

One module per command or command group, named as the command is (``visits`` is visits.py);
what several share is in common.py, the only module of this package the others import."""

from __future__ import annotations

from flask import Flask

from gateway.cli import (
    android,
    bookings,
    broadcast,
    callbacks,
    db,
    demo,
    dial,
    outbox,
    regions,
    requests,
    residents,
    sessions,
    smpp,
    users,
    visits,
    voice,
    worker,
)

COMMANDS = (
    db.db_cli,
    regions.regions_cli,
    demo.demo,
    requests.requests_cli,
    visits.visits_cli,
    bookings.bookings_cli,
    callbacks.callbacks_cli,
    residents.residents_cli,
    broadcast.broadcast,
    outbox.outbox_cli,
    worker.worker,
    smpp.smpp,
    android.android_cli,
    sessions.sessions_cli,
    users.users_cli,
    dial.dial,
    voice.voice_cli,
)


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
