"""What the sending tests share: the account the provider tests sign in with, the phones they
send to, the message ids the fake handed out, and the recipients per call."""

from __future__ import annotations

import re

from tests.fake_africastalking import FakeAfricasTalking

USERNAME, API_KEY = "bulelengdukcapil", "atsk_test_0123456789abcdef"
A, B, C = "+6281200000001", "+6281200000002", "+6281200000003"
BAD = "+6281200000099"
ID = re.compile(r"^ATXid_\d{8}$")


def ids_of(at_fake: FakeAfricasTalking, call: int = -1) -> dict[str, str]:
    return {r["number"]: r["messageId"] for r in at_fake.requests[call].replied}


PER_CALL = 50  # SMS_MAX_RECIPIENTS_PER_CALL of the sending tests
