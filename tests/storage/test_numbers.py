"""Request numbers (storage/numbers.py): eight digits, the last a Verhoeff check digit, so that
every single typo and adjacent swap is refused before any look-up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import numbers


def _single_substitutions(number: str) -> Iterator[str]:
    for i, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                yield number[:i] + other + number[i + 1 :]


def _adjacent_transpositions(number: str) -> Iterator[str]:
    for i in range(len(number) - 1):
        if number[i] != number[i + 1]:
            yield number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def test_new_number_is_eight_well_formed_digits() -> None:
    seen = {numbers.new_number() for _ in range(500)}
    assert len(seen) > 490  # random, not sequential or constant
    for number in seen:
        assert len(number) == 8
        assert number.isascii() and number.isdigit()
        assert number[0] != "0"  # no leading zero to lose in a spreadsheet
        assert numbers.is_well_formed(number)


@settings(max_examples=300, deadline=None)
@given(body=st.integers(min_value=10**6, max_value=10**7 - 1))
def test_every_single_typo_and_adjacent_swap_is_rejected(body: int) -> None:
    number = numbers.with_check_digit(str(body))
    assert numbers.is_well_formed(number)
    substitutions = list(_single_substitutions(number))
    assert len(substitutions) == 8 * 9
    assert not [n for n in substitutions if numbers.is_well_formed(n)]
    assert not [n for n in _adjacent_transpositions(number) if numbers.is_well_formed(n)]


def test_typos_of_fresh_numbers_are_rejected() -> None:
    for _ in range(50):
        number = numbers.new_number()
        assert not any(numbers.is_well_formed(n) for n in _single_substitutions(number))
        assert not any(numbers.is_well_formed(n) for n in _adjacent_transpositions(number))


# Verhoeff's tables, written out independently of python-stdnum, as a reference.
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
for _ in range(6):
    _P.append([_P[1][x] for x in _P[-1]])
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def _reference_check_digit(body: str) -> str:
    check = 0
    for i, digit in enumerate(reversed(body)):
        check = _D[check][_P[(i + 1) % 8][int(digit)]]
    return str(_INV[check])


def test_known_check_digits() -> None:
    # Textbook examples: 236 → 3, 12345 → 1
    assert numbers.with_check_digit("236") == "2363"
    assert numbers.with_check_digit("12345") == "123451"
    assert numbers.with_check_digit("1000001") == "10000010"
    assert numbers.with_check_digit("1000006") == "10000068"


@settings(max_examples=200, deadline=None)
@given(body=st.integers(min_value=10**6, max_value=10**7 - 1))
def test_check_digit_matches_the_published_algorithm(body: int) -> None:
    assert numbers.with_check_digit(str(body)) == str(body) + _reference_check_digit(str(body))


_VALID = "10000010"
_ARABIC_INDIC = {ord("0") + i: 0x0660 + i for i in range(10)}
_FULL_WIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1000001",
        "100000100",
        "1000001a",
        "1000 010",
        " 10000010",
        "10000010 ",
        "+0000010",
        "10000011",
        "01000010",
        _VALID.translate(_FULL_WIDTH),
        # Arabic-Indic digits: str.isdigit() is True and int() reads them, but no keypad types them
        _VALID.translate(_ARABIC_INDIC),
        _VALID[:-1] + "\u0660",
        "²²²²²²²²",
    ],
)
def test_malformed_numbers_are_rejected(raw: str) -> None:
    assert numbers.is_well_formed(_VALID)
    assert not numbers.is_well_formed(raw)
