"""What a submit_sm_resp's command status means for the message (issue 14)."""

from __future__ import annotations

from typing import Literal

from smpplib import consts

Meaning = Literal["sent", "slow_down", "retry", "permanent"]

# The SMSC is busy: pause, then submit the same message again (not a failed attempt).
SLOW_DOWN = {consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL}
# Worth another try later, by the outbox's own retry (attempts counted).
RETRY = {
    consts.SMPP_ESME_RSYSERR,  # 0x08 system error
    consts.SMPP_ESME_RSUBMITFAIL,  # 0x45
    0x64,  # ESME_RX_T_APPN: temporary application error
    consts.SMPP_ESME_RINVBNDSTS,  # 0x04: sent while not bound (a rebind is coming)
}
# Anything else (invalid destination 0x0B or source 0x0A address, invalid data coding 0x104,
# message too long 0x01, unknown codes...) will fail the same way again: failed, never retried.


def meaning(status: int) -> Meaning:
    if status == consts.SMPP_ESME_ROK:
        return "sent"
    if status in SLOW_DOWN:
        return "slow_down"
    if status in RETRY:
        return "retry"
    return "permanent"


def describe(status: int) -> str:
    """``0x0000000B Invalid Destination Address``: the reason kept on a failed message."""
    return f"SMPP 0x{status:08X} {consts.DESCRIPTIONS.get(status, 'unknown status')}"
