"""The fake Africa's Talking the provider tests talk to, and our provider signed in to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_africastalking import FakeAfricasTalking
from tests.workers.helpers import API_KEY, USERNAME
from workers.providers.africastalking import AfricasTalkingProvider


@pytest.fixture
def at_fake() -> Iterator[FakeAfricasTalking]:
    """The fake Africa's Talking with the account these tests sign in with (``USERNAME``,
    ``API_KEY``); the app's tests use ``fake`` (tests/conftest.py), which knows the app's."""
    with FakeAfricasTalking(api_key=API_KEY, username=USERNAME) as server:
        yield server


@pytest.fixture
def provider(at_fake: FakeAfricasTalking) -> AfricasTalkingProvider:
    return AfricasTalkingProvider(
        username=USERNAME, api_key=API_KEY, base_url=at_fake.url, timeout=(0.5, 0.5)
    )
