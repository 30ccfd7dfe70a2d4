"""A PostgreSQL schema of a run's own in the shared database (``BENCH_POSTGRES_URL``, by
default database ``test`` on 127.0.0.1), so a run never sees or leaves other data."""

from __future__ import annotations

import secrets
import sys

from bench.shared.basics import PG_BASE


class TempSchema:
    """``<prefix>_<random>``: ``create()`` it, hand ``url`` to the gateway, ``drop()`` it."""

    def __init__(self, prefix: str) -> None:
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = f"{PG_BASE}?options=-csearch_path%3D{self.name}"  # every connection's path
        self.created = False

    def create(self) -> None:
        self._execute(f'CREATE SCHEMA "{self.name}"')
        self.created = True

    def drop(self) -> None:
        """Drop it with all it holds; never raises (it runs while cleaning up)."""
        if not self.created:
            return
        try:
            self._execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
            self.created = False
        except Exception as error:
            print(f"could not drop schema {self.name}: {error}", file=sys.stderr)

    @staticmethod
    def _execute(statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_BASE)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()
