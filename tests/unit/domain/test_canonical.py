"""Canonical JSON: the fast path is byte-for-byte RFC 8785."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from microhub.domain.canonical import canonical

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(alphabet=st.characters(codec="ascii"), max_size=8), children, max_size=5
        )
    ),
    max_leaves=30,
)


@given(values)
def test_fast_path_matches_the_reference_implementation(value: object) -> None:
    """For every value microhub writes, canonical() equals rfc8785.dumps() byte for byte."""
    assert canonical(value) == rfc8785.dumps(value)


@given(st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=6))
def test_non_ascii_keys_sort_as_utf16(value: dict[str, int]) -> None:
    """Objects with any keys (including astral characters) still sort the RFC 8785 way."""
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonical(value) == expected


def test_floats_and_huge_integers_are_not_fast_pathed() -> None:
    """A float is encoded by the reference implementation; an unsafe integer is refused."""
    assert canonical({"a": 1.5}) == rfc8785.dumps({"a": 1.5})
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical({"a": 2**60})


def test_escapes_match_json_stringify() -> None:
    """Control characters, quotes and backslashes are escaped like ECMAScript JSON.stringify."""
    assert canonical({"s": 'a"b\\c\n\t\x01\x7f\u2028é'}) == (
        '{"s":"a\\"b\\\\c\\n\\t\\u0001\x7f\u2028é"}'.encode()
    )
