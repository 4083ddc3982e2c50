"""Numbers in requests are read in ASCII digits only, and reading one never fails."""

from __future__ import annotations

import math

import pytest

from gateway.core.errors import BadRequest
from gateway.core.limits.checks import parse_cost
from gateway.core.listing import parse_list_query
from gateway.core.numbers import as_number, whole_number

# Each is a digit to str.isdigit(), int() or float(), and none is one in HTTP.
OTHER_DIGITS = [
    "\u00b9",  # superscript one: isdigit() says yes, int() refuses it
    "\u0663",  # Arabic-Indic three: int() reads 3
    "\uff14",  # fullwidth four: float() reads 4
    "\u09ea",  # Bengali four
    "1_0",  # int() and float() read 10
    "\U0001d7d2",  # mathematical bold four
]


@pytest.mark.parametrize("text", ["0", "7", "100", "007", "9" * 30])
def test_whole_numbers_in_ascii_are_read(text: str) -> None:
    """ASCII digits read as the number they spell, however long."""
    assert whole_number(text) == int(text)


@pytest.mark.parametrize("text", [*OTHER_DIGITS, "", " 1", "1 ", "+1", "-1", "1.0", "1e3", "0x10"])
def test_anything_else_is_not_a_whole_number(text: str) -> None:
    """Signs, spaces, fractions and other scripts' digits are not whole numbers."""
    assert whole_number(text) is None


def test_a_numeral_too_long_to_convert_is_not_a_number() -> None:
    """Thousands of digits, past what int() converts, read as no number rather than fail."""
    assert whole_number("9" * 10_000) is None


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("8", 8),
        (" 4 ", 4),
        ("4.5", 4.5),
        ("-2", -2),
        (".5", 0.5),
        ("1e3", 1000.0),
        (12, 12),
        (4.0, 4.0),
    ],
)
def test_numbers_and_ascii_numerals_are_numbers(value: object, number: float) -> None:
    """JSON numbers and strings spelling one in ASCII read as that number."""
    assert as_number(value) == number


@pytest.mark.parametrize(
    "value",
    [*OTHER_DIGITS, "4\u2003", "inf", "nan", "Infinity", "4x", "", True, None, [4], math.nan],
)
def test_other_values_are_not_numbers(value: object) -> None:
    """Other scripts' digits, words Python reads as numbers, and non-scalars are no number."""
    assert as_number(value) is None


def test_a_huge_numeral_reads_as_infinity_not_as_a_failure() -> None:
    """A numeral too long for int() is still compared, as the float it spells."""
    assert as_number("9" * 10_000) == math.inf


@pytest.mark.parametrize("text", OTHER_DIGITS)
def test_a_cost_in_other_digits_is_refused(text: str) -> None:
    """What the limits charge is read like what the policy judged: ASCII digits only."""
    with pytest.raises(ValueError, match="'seconds' must be a non-negative number"):
        parse_cost("seconds", text)


@pytest.mark.parametrize("limit", [*OTHER_DIGITS, "9" * 10_000, "101", "-1", " 5", ""])
def test_a_list_limit_that_is_no_number_in_range_is_refused(limit: str) -> None:
    """`limit` in any other spelling is a 400 naming it, never a failure."""
    with pytest.raises(BadRequest) as refused:
        parse_list_query([("limit", limit)])
    assert refused.value.param == "limit"


def test_a_list_limit_in_ascii_is_read() -> None:
    """A limit in ASCII digits from 0 to 100 is taken; none at all is the default of 20."""
    assert parse_list_query([("limit", "100")]).limit == 100
    assert parse_list_query([("limit", "0")]).limit == 0
    assert parse_list_query([]).limit == 20
