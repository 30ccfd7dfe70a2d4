"""The fixed vocabularies stored in the database. Their words for people live in the
message catalogs (flows/catalogs/*.toml), keyed by these codes."""

from __future__ import annotations

from common.request_lifecycle import INCOMPLETE_REASONS, STATUSES

DOC_TYPES = ("ktp", "kk", "birth_cert", "death_cert", "kia", "move")
REQUEST_STATUSES = STATUSES  # their lifecycle: common/request_lifecycle.py
__all__ = ["INCOMPLETE_REASONS"]
BOOKING_STATUSES = ("requested", "scheduled", "done", "cancelled")
BOOKING_SERVICES = ("ktp", "kk", "birth_cert", "other")
BOOKING_REASONS = ("sick", "disability", "elderly", "poor", "new_ktp_age", "other")
BOOKING_FOR = ("self", "family")
CALLBACK_REASONS = ("document_status", "home_visit", "village_visit", "other")
CALLBACK_STATUSES = ("open", "called", "not_reached")
