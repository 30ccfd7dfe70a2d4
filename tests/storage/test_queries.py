"""The outbox's dedupe key, subscriptions, village visits, residents and the USSD session log, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage import hop, outbox, queries
from storage.db import Database
from storage.models import OutboxMessage, ReminderSubscription, UssdSessionLog, VillageVisit
from tests.helpers import TEMBOK, count
from tests.storage.helpers import OTHER_PHONE, PHONE

# --- outbox, subscriptions -------------------------------------------------------------------


def test_outbox_add_is_idempotent_by_dedupe_key(db: Database) -> None:
    due = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
    with db.begin() as session:
        assert (
            outbox.add(
                session,
                recipient=PHONE,
                kind="reminder",
                body="first",
                dedupe_key="reminder:1:3d",
                due_at=due,
            )
            is True
        )
    with db.begin() as session:
        assert (
            outbox.add(
                session, recipient=PHONE, kind="reminder", body="second", dedupe_key="reminder:1:3d"
            )
            is False
        )
        assert (
            outbox.add(
                session, recipient=PHONE, kind="reminder", body="other", dedupe_key="reminder:1:1d"
            )
            is True
        )
    with db.begin() as session:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "reminder:1:3d")
        )
        assert row is not None
        assert (row.body, row.status, row.attempts, row.recipient) == ("first", "queued", 0, PHONE)
        stored_due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=dt.UTC)
        assert stored_due == due
    assert count(db, OutboxMessage) == 2


def test_outbox_dedupe_key_is_unique_in_the_database(db: Database) -> None:
    with db.begin() as session:
        session.add(OutboxMessage(recipient=PHONE, kind="reply", body="a", dedupe_key="k"))
    with pytest.raises(IntegrityError), db.begin() as session:
        session.add(OutboxMessage(recipient=PHONE, kind="reply", body="b", dedupe_key="k"))


def _visit(
    session,
    day: dt.date,
    *,
    start: dt.time = dt.time(9),
    village: str = TEMBOK,
    published: bool = True,
) -> VillageVisit:  # type: ignore[no-untyped-def]
    return queries.add_visit(
        session,
        village_code=village,
        visit_date=day,
        start_time=start,
        end_time=dt.time(14),
        place="Balai Desa",
        published=published,
    )


def test_subscribe_is_idempotent(db: Database) -> None:
    today = dt.date(2030, 5, 1)
    with db.begin() as session:
        visit_id = _visit(session, today).id
    args = {"phone": PHONE, "village_code": TEMBOK, "language": "id"}
    with db.begin() as session:
        assert queries.subscribe(session, kind="visit_reminder", visit_id=visit_id, **args)
        assert queries.subscribe(session, kind="visit_published", visit_id=None, **args)
    with db.begin() as session:
        assert not queries.subscribe(session, kind="visit_reminder", visit_id=visit_id, **args)
        # visit_id NULL: the unique constraint cannot catch this one, the function must
        assert not queries.subscribe(session, kind="visit_published", visit_id=None, **args)
        assert queries.subscribe(
            session, kind="visit_published", visit_id=None, **{**args, "phone": OTHER_PHONE}
        )
    assert count(db, ReminderSubscription) == 3


def test_add_visit_rejects_end_before_start(db: Database) -> None:
    with (
        pytest.raises(ValueError, match="end time 09:00 is not after start time 10:00"),
        db.begin() as session,
    ):
        queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=dt.date(2030, 1, 1),
            start_time=dt.time(10),
            end_time=dt.time(9),
            place="Balai Desa",
        )
    assert count(db, VillageVisit) == 0


def test_next_visit_ignores_drafts_cancelled_and_past(db: Database) -> None:
    today = dt.date(2030, 5, 10)
    with db.begin() as session:
        assert queries.next_visit(session, TEMBOK, today) is None
        _visit(session, today - dt.timedelta(days=1))  # past
        _visit(session, today + dt.timedelta(days=1), published=False)  # draft
        cancelled = _visit(session, today + dt.timedelta(days=2))
        cancelled.cancelled = True
        _visit(session, today + dt.timedelta(days=3), village="51.08.08.2007")  # elsewhere
        later = _visit(session, today + dt.timedelta(days=9)).id
        _visit(session, today + dt.timedelta(days=4), start=dt.time(13))  # same day, later
        morning = _visit(session, today + dt.timedelta(days=4), start=dt.time(8)).id
    with db.begin() as session:
        found = queries.next_visit(session, TEMBOK, today)
        assert found is not None and found.id == morning
        assert (found.day, found.start, found.end) == (
            today + dt.timedelta(days=4),
            "08:00",
            "14:00",
        )
        assert found == hop.next_visit(db, TEMBOK, today)  # the hop's look-up, the same visit
    with db.begin() as session:
        todays = _visit(session, today).id  # today still counts
    with db.begin() as session:
        assert queries.next_visit(session, TEMBOK, today).id == todays  # type: ignore[union-attr]
        assert (
            queries.next_visit(
                session,
                TEMBOK,  # type: ignore[union-attr]
                today + dt.timedelta(days=5),
            ).id
            == later
        )
        assert queries.next_visit(session, TEMBOK, today + dt.timedelta(days=10)) is None


# --- residents, session log ------------------------------------------------------------------


def test_upsert_resident_updates_only_given_fields(db: Database) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, PHONE, village_code=TEMBOK)
    with db.begin() as session:
        queries.upsert_resident(session, PHONE, language="en")
    with db.begin() as session:
        queries.upsert_resident(session, PHONE)
        resident = queries.get_resident(session, PHONE)
        assert resident is not None
        assert (resident.village_code, resident.language, resident.opted_out) == (
            TEMBOK,
            "en",
            False,
        )
        assert queries.get_resident(session, OTHER_PHONE) is None


def test_record_sessions_upserts_by_session_id(db: Database) -> None:
    started = "2030-01-01T01:00:00+00:00"
    with db.begin() as session:
        assert (
            queries.record_sessions(
                session,
                [
                    {
                        "session_id": "ATUid_1",
                        "phone": PHONE,
                        "service_code": "*123#",
                        "network_code": "51010",
                        "journey": "status",
                        "hops": 3,
                        "outcome": "dropped",
                        "started_at": started,
                        "ended_at": "2030-01-01T01:01:00+00:00",
                    },
                    {"session_id": "ATUid_2", "phone": OTHER_PHONE},
                ],
            )
            == 2
        )
    with db.begin() as session:  # the provider's end-of-session report completes the row
        assert (
            queries.record_sessions(
                session,
                [
                    {
                        "session_id": "ATUid_1",
                        "phone": PHONE,
                        "provider_status": "Success",
                        "outcome": "completed",
                        "hops": 4,
                        "journey": None,
                    }
                ],
            )
            == 1
        )
    with db.begin() as session:
        rows = {r.session_id: r for r in session.scalars(select(UssdSessionLog))}
    assert set(rows) == {"ATUid_1", "ATUid_2"}
    first = rows["ATUid_1"]
    assert (
        first.phone,
        first.service_code,
        first.network_code,
        first.journey,
        first.hops,
        first.outcome,
        first.provider_status,
    ) == (PHONE, "*123#", "51010", "status", 4, "completed", "Success")
    started_at = first.started_at.replace(tzinfo=first.started_at.tzinfo or dt.UTC)
    assert started_at == dt.datetime(2030, 1, 1, 1, tzinfo=dt.UTC)
    second = rows["ATUid_2"]
    assert (second.phone, second.hops, second.outcome, second.journey) == (
        OTHER_PHONE,
        0,
        "dropped",
        None,
    )
