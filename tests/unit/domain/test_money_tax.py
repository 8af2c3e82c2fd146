"""Money parsing and the tax rounding rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microhub.domain.money import CURRENCIES, currency, format_minor, parse_major
from microhub.domain.tax import breakdown, parse_rate, round_div, tax_from_gross, tax_from_net
from microhub.errors import ValidationError

EUR = currency("EUR")


def test_parse_major_is_exact_for_each_exponent() -> None:
    """Decimal strings become exact minor units, per the currency's exponent."""
    assert parse_major("12.5", EUR) == 1250
    assert parse_major("0.01", EUR) == 1
    assert parse_major("1200", currency("JPY")) == 1200
    assert parse_major("1.234", currency("KWD")) == 1234


@pytest.mark.parametrize("text", ["1.234", "1,50", "1e3", "", "abc", "-1", " . "])
def test_parse_major_refuses_what_would_need_guessing(text: str) -> None:
    """Too many decimals, commas, exponents, negatives and junk are refused, naming the field."""
    with pytest.raises(ValidationError) as info:
        parse_major(text, EUR, field="price")
    assert info.value.field == "price"


def test_unknown_currency_is_refused() -> None:
    """An unknown ISO code raises with the field named, rather than guessing an exponent."""
    with pytest.raises(ValidationError) as info:
        currency("XXX")
    assert info.value.field == "currency"


@given(st.integers(-(10**12), 10**12), st.sampled_from(sorted(CURRENCIES)))
def test_format_then_parse_round_trips(amount: int, code: str) -> None:
    """Formatting minor units and parsing them back gives the same integer."""
    cur = currency(code)
    assert parse_major(format_minor(amount, cur), cur, allow_negative=True) == amount


def test_parse_rate_in_basis_points() -> None:
    """Percentages become basis points; more than two decimals or over 100 are refused."""
    assert parse_rate("19") == 1900
    assert parse_rate("7.7") == 770
    assert parse_rate("5.55") == 555
    assert parse_rate("0") == 0
    for bad in ("101", "7.777", "-1", "x"):
        with pytest.raises(ValidationError):
            parse_rate(bad)


def test_round_div_rounds_half_away_from_zero() -> None:
    """Halves round away from zero on both signs; everything else to the nearest."""
    assert round_div(5, 2) == 3
    assert round_div(-5, 2) == -3
    assert round_div(7, 3) == 2
    assert round_div(-7, 3) == -2


def test_tax_examples() -> None:
    """Worked examples from docs/money-and-tax.md."""
    assert tax_from_gross(1190, 1900) == 190
    assert tax_from_gross(100, 1900) == 16  # 15.966 -> 16
    assert tax_from_net(1000, 1900) == 190
    assert tax_from_net(5, 1900) == 1  # 0.95 -> 1


amounts = st.lists(
    st.tuples(st.sampled_from([0, 500, 700, 1000, 1900, 2000, 2100, 770]), st.integers(0, 10**8)),
    max_size=40,
)


@given(amounts, st.booleans())
def test_per_rate_totals_always_add_up(lines: list[tuple[int, int]], inclusive: bool) -> None:
    """For any basket, net + tax = gross per rate, and the per-rate amounts are exactly the lines'."""
    result = breakdown(lines, prices_include_tax=inclusive)
    for tax_line in result:
        assert tax_line.net + tax_line.tax == tax_line.gross
        base = sum(a for r, a in lines if r == tax_line.rate_bp)
        assert (tax_line.gross if inclusive else tax_line.net) == base
    assert {t.rate_bp for t in result} == {r for r, _ in lines}
