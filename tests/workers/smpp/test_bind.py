"""The bind against the local SMSC, in a thread of the test, fed through the worker's side of the
hand-off (``SmppProvider.send``): binding, encodings, the window, the rate, throttling, errors,
a dropped connection and an unbind, receipts and residents' SMS always answered."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from smpplib import consts

from tests.fake_smsc import FakeSmsc, Submitted
from tests.workers.smpp.conftest import PASSWORD, SYSTEM_ID, Starter
from workers.providers import DeliveryReport, SendResult
from workers.providers.smpp import SmppProvider

A, B, C = "+6281200000001", "+6281200000002", "+6281200000003"


def phones(n: int, start: int = 0) -> list[str]:
    return [f"+62812{start + i:08d}" for i in range(n)]


def test_binds_with_the_right_password(smsc: FakeSmsc, start_bind: Starter) -> None:
    running = start_bind(smsc)
    assert smsc.binds == [(SYSTEM_ID, True)]
    assert running.bind.binds == 1


def test_a_wrong_password_is_refused_and_tried_again_with_back_off(
    smsc: FakeSmsc, start_bind: Starter, provider: SmppProvider
) -> None:
    running = start_bind(smsc, password="salah", wait_bound=False, rebind_min=0.1, rebind_max=0.4)
    time.sleep(1.2)
    assert not running.bind.bound.is_set()
    tries = len(smsc.binds)
    assert smsc.binds[0] == (SYSTEM_ID, False)
    assert 2 <= tries <= 6  # 0.1, 0.2, 0.4, 0.4 … not a tight loop
    assert all(not ok for _, ok in smsc.binds)
    # The password fixed (the SMSC side changes here), the next try binds.
    smsc.password = "salah"
    assert running.bind.bound.wait(2)
    assert provider.send("Halo", [A]) == [SendResult(A, "sent", smsc.accepted()[0].message_id)]


def test_gsm_ucs2_and_a_three_part_message_arrive_whole(
    smsc: FakeSmsc, start_bind: Starter, provider: SmppProvider
) -> None:
    start_bind(smsc)
    gsm = "Jadwal Desa Tembok: Kamis 3 Des, 09:00 di Balai Desa. Bawa KK asli [wajib]."
    ucs2 = "Om Swastiastu 🙏 jadwal petugas ke Desa Tembok"
    long = "Petugas Disdukcapil datang ke Desa Tembok hari Kamis. " * 7  # 3 parts
    assert [r.outcome for r in provider.send(gsm, [A, B])] == ["sent", "sent"]
    assert [r.outcome for r in provider.send(ucs2, [A])] == ["sent"]
    [result] = provider.send(long, [C])
    assert result.outcome == "sent"
    assert smsc.texts_to(A) == [gsm, ucs2]
    assert smsc.texts_to(B) == [gsm]
    assert smsc.texts_to(C) == [long]
    codings = [(s.destination, s.data_coding, s.esm_class) for s in smsc.submits]
    assert codings == [(A, 0, 0), (B, 0, 0), (A, 8, 0), (C, 0, 0x40), (C, 0, 0x40), (C, 0, 0x40)]
    # The outbox knows a long message by its first part's id.
    assert result.message_id == smsc.submits[3].message_id


def test_message_payload_sends_a_long_text_in_one_submit(
    smsc: FakeSmsc, start_bind: Starter, provider: SmppProvider
) -> None:
    start_bind(smsc, split="payload")
    long = "Petugas Disdukcapil datang ke Desa Tembok hari Kamis. " * 7
    assert provider.send(long, [A])[0].outcome == "sent"
    assert len(smsc.submits) == 1 and smsc.texts_to(A) == [long]


def test_the_window_is_filled_and_never_exceeded(
    start_bind: Starter, provider: SmppProvider
) -> None:
    with FakeSmsc(SYSTEM_ID, PASSWORD, delay=0.02) as smsc:
        running = start_bind(smsc, window=5)
        results = provider.send("Info jadwal", phones(200))
        assert {r.outcome for r in results} == {"sent"}
        assert running.bind.max_in_flight == 5  # filled
        assert 4 <= smsc.max_in_flight <= 5  # as the SMSC saw it: never more
        assert len({r.message_id for r in results}) == 200


def test_the_rate_is_kept(smsc: FakeSmsc, start_bind: Starter) -> None:
    start_bind(smsc, window=50, rate=100)
    provider = SmppProvider(_redis_url(), timeout=10, rate=100, recipients_per_call=100)
    provider.send("Info jadwal", phones(150))
    times = [s.at for s in smsc.submits]
    assert len(times) == 150
    assert times[-1] - times[0] >= 1.4  # 150 at 100/s
    for i in range(len(times)):  # never more than 100 (+1 at the edge) in any second
        assert sum(1 for t in times[i:] if t - times[i] < 1.0) <= 101


def _redis_url() -> str:
    from tests.helpers import REDIS_URL

    return REDIS_URL


def test_throttled_submits_slow_down_and_go_again(
    start_bind: Starter, provider: SmppProvider
) -> None:
    def throttle_early(n: int, _s: Submitted) -> int:
        return consts.SMPP_ESME_RTHROTTLED if n in (3, 4, 5, 9) else consts.SMPP_ESME_ROK

    with FakeSmsc(SYSTEM_ID, PASSWORD, decide=throttle_early) as smsc:
        running = start_bind(smsc, window=1)
        started = time.monotonic()
        results = provider.send("Info jadwal", phones(20))
        assert [r.outcome for r in results] == ["sent"] * 20
        assert len(smsc.submits) == 24 and len(smsc.accepted()) == 20
        assert time.monotonic() - started >= 0.05 + 0.1 + 0.2  # paused, longer each time
        assert sorted(s.destination for s in smsc.accepted()) == phones(20)
        assert running.bind.binds == 1


def test_a_queue_full_smsc_is_waited_for_too(start_bind: Starter, provider: SmppProvider) -> None:
    with FakeSmsc(
        SYSTEM_ID,
        PASSWORD,
        decide=lambda n, _s: consts.SMPP_ESME_RMSGQFUL if n == 0 else consts.SMPP_ESME_ROK,
    ) as smsc:
        start_bind(smsc)
        assert provider.send("Halo", [A])[0].outcome == "sent"
        assert len(smsc.submits) == 2


def test_a_permanent_error_fails_that_recipient_with_its_reason(
    start_bind: Starter, provider: SmppProvider
) -> None:
    def refuse_b(_n: int, s: Submitted) -> int:
        return consts.SMPP_ESME_RINVDSTADR if s.destination == B else consts.SMPP_ESME_ROK

    with FakeSmsc(SYSTEM_ID, PASSWORD, decide=refuse_b) as smsc:
        start_bind(smsc)
        a, b, c = provider.send("Halo", [A, B, C])
        assert (a.outcome, c.outcome) == ("sent", "sent")
        assert b == SendResult(B, "permanent", None, "SMPP 0x0000000B Invalid Destination Address")
        assert len(smsc.submits) == 3  # never retried


def test_a_dropped_connection_answers_what_was_in_flight_transient_and_rebinds(
    start_bind: Starter, provider: SmppProvider
) -> None:
    with FakeSmsc(SYSTEM_ID, PASSWORD, delay=0.01) as smsc:
        smsc.drop_after = 30
        running = start_bind(smsc, window=5)
        results = provider.send("Info jadwal", phones(100))
        transient = [r for r in results if r.outcome == "transient"]
        assert 1 <= len(transient) <= 5  # the window in flight when the SMSC went
        assert all("SMPP" in (r.reason or "") for r in transient)
        sent = [r for r in results if r.outcome == "sent"]
        assert len(sent) + len(transient) == 100
        assert running.bind.binds == 2  # bound again, and the rest submitted
        assert len(smsc.binds) == 2


def test_an_unbind_from_the_smsc_is_answered_and_rebound(
    smsc: FakeSmsc, start_bind: Starter, provider: SmppProvider
) -> None:
    running = start_bind(smsc)
    smsc.unbind()
    deadline = time.monotonic() + 5
    while running.bind.binds < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.bind.binds == 2
    assert provider.send("Halo", [A])[0].outcome == "sent"


def test_nothing_is_submitted_after_the_workers_deadline(
    smsc: FakeSmsc, start_bind: Starter
) -> None:
    """The bind was down while the worker waited: the worker gave the messages back to the
    outbox; a later bind must not send them as well."""
    impatient = SmppProvider(_redis_url(), timeout=0.3, rate=0, recipients_per_call=100)
    answers: list[object] = []
    waiting = threading.Thread(target=lambda: answers.append(_try(impatient, [A])))
    waiting.start()
    waiting.join(10)
    assert answers == ["no answer"]
    start_bind(smsc)
    time.sleep(0.5)
    assert smsc.submits == []


def _try(provider: SmppProvider, recipients: list[str]) -> object:
    from workers.providers import ProviderError

    try:
        return provider.send("Halo", recipients)
    except ProviderError:
        return "no answer"


def test_receipts_are_read_and_always_answered(start_bind: Starter, provider: SmppProvider) -> None:
    with FakeSmsc(SYSTEM_ID, PASSWORD, receipts="after", receipt_tlvs=False) as smsc:
        running = start_bind(smsc)
        long = "Petugas Disdukcapil datang ke Desa Tembok hari Kamis. " * 7
        [short_one] = provider.send("Halo", [A])
        [long_one] = provider.send(long, [B])
        _wait(lambda: len(smsc.deliver_resps) == 4)
        assert smsc.deliver_resps == [0, 0, 0, 0]
        reported = [r for r, _ in running.receipts]
        assert reported[0] == DeliveryReport(short_one.message_id or "", "Success", None, None)
        # each of the long message's parts reports under the id the outbox knows
        assert {r.message_id for r in reported[1:]} == {long_one.message_id}


@pytest.mark.parametrize("decimal", [True, False])
def test_receipts_with_decimal_ids_find_their_message_when_set(
    start_bind: Starter, provider: SmppProvider, decimal: bool
) -> None:
    with FakeSmsc(
        SYSTEM_ID, PASSWORD, receipts="after", receipt_tlvs=False, receipt_ids_decimal=True
    ) as smsc:
        running = start_bind(smsc, receipt_ids_decimal=decimal)
        [result] = provider.send("Halo", [A])
        _wait(lambda: len(running.receipts) == 1)
        given = smsc.submits[0].message_id  # upper-case hexadecimal; the receipt says it in decimal
        [(report, _)] = running.receipts
        if decimal:  # recorded and reported alike: the receipt finds its message
            assert result.message_id == report.message_id == given.lower()
        else:  # as the SMSC wrote them: this receipt would never find its message
            assert (result.message_id, report.message_id) == (given, str(int(given, 16)))


def test_a_failure_receipt_with_tlvs_keeps_its_state(
    start_bind: Starter, provider: SmppProvider
) -> None:
    with FakeSmsc(SYSTEM_ID, PASSWORD, receipts="before", receipt_stat="UNDELIV") as smsc:
        running = start_bind(smsc)
        [result] = provider.send("Halo", [A])
        _wait(lambda: len(running.receipts) == 1)
        assert running.receipts[0][0] == DeliveryReport(
            result.message_id or "", "Failed", None, "UNDELIV"
        )


def test_a_deliver_sm_we_cannot_handle_now_is_answered_try_again(
    smsc: FakeSmsc, start_bind: Starter
) -> None:
    def database_down(_message: object) -> str:
        raise RuntimeError("database down")

    start_bind(smsc, on_inbound=database_down)
    smsc.deliver(A, "JADWAL Tembok")
    _wait(lambda: len(smsc.deliver_resps) == 1)
    assert smsc.deliver_resps == [0x64]


def test_a_residents_sms_is_handed_to_the_inbound_handling(
    smsc: FakeSmsc, start_bind: Starter
) -> None:
    running = start_bind(smsc)
    smsc.deliver(A, "JADWAL Tembok")
    smsc.deliver(B, "Om Swastiastu 🙏")
    _wait(lambda: len(smsc.deliver_resps) == 2)
    assert smsc.deliver_resps == [0, 0]
    assert [(m.sender, m.text) for m in running.inbound] == [
        (A, "JADWAL Tembok"),
        (B, "Om Swastiastu 🙏"),
    ]


def _wait(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_redis_failing_for_a_moment_keeps_the_bind(
    smsc: FakeSmsc, start_bind: Starter, provider: SmppProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.smpp import handoff

    real_take = handoff.take
    failures = iter([True, True])

    def flaky_take(client: redis.Redis, timeout: float) -> handoff.Request | None:
        if next(failures, False):
            raise redis.ConnectionError("Redis went away")
        return real_take(client, timeout)

    monkeypatch.setattr(handoff, "take", flaky_take)
    running = start_bind(smsc)
    assert provider.send("Halo", [A])[0].outcome == "sent"
    assert running.bind.binds == 1 and running.thread.is_alive()


def test_a_residents_long_sms_is_reassembled_before_it_is_handled(
    smsc: FakeSmsc, start_bind: Starter
) -> None:
    running = start_bind(smsc)
    first, second = "Saya mau tanya jadwal perekaman KTP-el untuk ibu saya " * 3, "di Tembok."
    smsc.deliver(B, "Halo")
    smsc.deliver(A, second, udh=bytes([5, 0, 3, 42, 2, 2]))  # out of order
    smsc.deliver(A, first, udh=bytes([6, 8, 4, 1, 42, 2, 1]))  # (16-bit reference: another)
    smsc.deliver(A, first, udh=bytes([5, 0, 3, 42, 2, 1]))
    _wait(lambda: len(smsc.deliver_resps) == 4)
    assert smsc.deliver_resps == [0, 0, 0, 0]  # every segment answered
    assert [(m.sender, m.text) for m in running.inbound] == [(B, "Halo"), (A, first + second)]


def test_a_long_sms_segmented_by_sar_tlvs_is_reassembled_too(
    smsc: FakeSmsc, start_bind: Starter
) -> None:
    running = start_bind(smsc)
    first, second = "JADWAL perekaman KTP-el di desa kami kapan ya pak, " * 3, "Tembok"
    smsc.deliver(A, second, sar=(7, 2, 2))
    smsc.deliver(A, first, sar=(7, 2, 1))
    _wait(lambda: len(smsc.deliver_resps) == 2)
    assert [(m.sender, m.text) for m in running.inbound] == [(A, first + second)]


def test_hand_overs_are_large_but_at_most_ten_seconds_of_the_rate() -> None:
    url = _redis_url()
    assert (
        SmppProvider(url, timeout=10, rate=0, recipients_per_call=500).max_recipients_per_call
        == 500
    )
    assert (
        SmppProvider(url, timeout=10, rate=1000, recipients_per_call=500).max_recipients_per_call
        == 500
    )
    assert (
        SmppProvider(url, timeout=10, rate=5, recipients_per_call=500).max_recipients_per_call == 50
    )
