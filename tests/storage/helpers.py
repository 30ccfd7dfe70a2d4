"""The phones the storage tests file requests, bookings and residents under."""

from __future__ import annotations

PHONE = "+6281234567890"
OTHER_PHONE = "+6281234567891"
