"""Request and booking numbers: digits only, with a Verhoeff check digit.

Digits only because a feature-phone keypad has nothing else; Verhoeff because it catches every
single wrong digit and every swap of two neighbouring digits, the two mistakes people make when
copying a number off a receipt — so a mistyped number is refused before any look-up.
Numbers are random (not sequential) so that knowing one does not reveal its neighbours.
"""

from __future__ import annotations

import secrets

from stdnum import verhoeff

BODY_DIGITS = 7  # 7 random digits + 1 check digit = 8 digits to type
NUMBER_LENGTH = BODY_DIGITS + 1


def new_number() -> str:
    body = str(secrets.randbelow(9 * 10 ** (BODY_DIGITS - 1)) + 10 ** (BODY_DIGITS - 1))
    return body + verhoeff.calc_check_digit(body)


def with_check_digit(body: str) -> str:
    """The full number for a given body (used by imports that assign their own numbers)."""
    return body + verhoeff.calc_check_digit(body)


def is_well_formed(number: str) -> bool:
    # isascii(): str.isdigit() and int() also accept full-width or Arabic-Indic digits,
    # which no keypad types.
    return (
        len(number) == NUMBER_LENGTH
        and number.isascii()
        and number.isdigit()
        and verhoeff.is_valid(number)
    )
