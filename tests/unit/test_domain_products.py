"""Pure product rules: prices, text PostgreSQL can store, attributes, tags, stock arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.domain.errors import InsufficientStock
from catalog.domain.products import (
    ATTRIBUTES_MAX_BYTES,
    ATTRIBUTES_MAX_DEPTH,
    ATTRIBUTES_MAX_KEYS,
    STOCK_MAX,
    ProductSort,
    StockOverflow,
    attributes_problem,
    currency_problem,
    normalize_tags,
    price_problem,
    stock_after,
    text_problem,
)


@pytest.mark.parametrize(
    "price",
    ["0", "0.00", "19.99", "19.990", "9999999999.99", "1E+3", "-0"],
)
def test_storable_prices(price: str) -> None:
    assert price_problem(Decimal(price)) is None


@pytest.mark.parametrize(
    ("price", "problem"),
    [
        ("-0.01", "negative"),
        ("1.001", "2 decimal places"),
        ("1E-7", "2 decimal places"),
        ("10000000000", "10 digits"),
        ("1E+20", "10 digits"),
        ("1E+999999", "10 digits"),
        ("123456789012345678901234567890.123", "10 digits"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
    ],
)
def test_unstorable_prices(price: str, problem: str) -> None:
    assert problem in (price_problem(Decimal(price)) or "")


def test_text_problem_finds_nul_and_lone_surrogates() -> None:
    assert text_problem("plain, ünïcödé, 😀") is None
    assert "NUL" in (text_problem("a\x00b") or "")
    assert "surrogate" in (text_problem("a\ud800") or "")
    assert "surrogate" in (text_problem("\udfff") or "")


@pytest.mark.parametrize(
    ("code", "ok"),
    [("USD", True), ("EUR", True), ("usd", False), ("US", False), ("USDX", False), ("U$D", False)],
)
def test_currency_is_three_uppercase_letters(code: str, ok: bool) -> None:
    assert (currency_problem(code) is None) is ok


def test_tags_are_stripped_deduplicated_and_keep_their_order() -> None:
    assert normalize_tags([" b", "a", "b ", "", "  ", "c", "a"]) == ("b", "a", "c")


def test_storable_attributes() -> None:
    assert attributes_problem({}) is None
    assert attributes_problem({"color": "red", "sizes": [1, 2.5], "ok": True, "n": None}) is None


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({f"k{n}": n for n in range(ATTRIBUTES_MAX_KEYS + 1)}, "keys"),
        ({"k": "v" * ATTRIBUTES_MAX_BYTES}, "bytes"),
        ({"k": "\x00"}, "NUL"),
        ({"\x00": 1}, "keys must not contain NUL"),
        ({"a": [{"b": ["\x00"]}]}, "NUL"),
        ({"a": {"b\ud800": 1}}, "surrogate"),
        ({"x": float("nan")}, "finite"),
        ({"x": [float("inf")]}, "finite"),
        ({"x": {1: 2}}, "keys must be strings"),
        ({"x": {1, 2}}, "JSON"),
    ],
)
def test_unstorable_attributes(attributes: dict[str, object], problem: str) -> None:
    assert problem in (attributes_problem(attributes) or "")


def test_attribute_depth_is_checked_without_recursion() -> None:
    value: object = 1
    for _ in range(ATTRIBUTES_MAX_DEPTH):
        value = [value]
    assert attributes_problem({"a": value}) is None
    for _ in range(100_000):
        value = [value]
    assert "nested" in (attributes_problem({"a": value}) or "")


def test_stock_after_refuses_negative_and_overflow() -> None:
    assert stock_after(1, stock=5, delta=-5) == 0
    assert stock_after(1, stock=0, delta=STOCK_MAX) == STOCK_MAX
    with pytest.raises(InsufficientStock) as refused:
        stock_after(1, stock=5, delta=-6)
    assert refused.value.message == "stock of product 1 is 5; a change of -6 would make it negative"
    with pytest.raises(StockOverflow):
        stock_after(1, stock=STOCK_MAX, delta=1)


def test_sort_names_their_key_and_direction() -> None:
    assert (ProductSort.PRICE_DESC.key, ProductSort.PRICE_DESC.descending) == ("price", True)
    assert (ProductSort.NAME.key, ProductSort.NAME.descending) == ("name", False)
    assert {sort.value for sort in ProductSort} == {
        "id", "-id", "name", "price", "-price",
        "created_at", "-created_at", "updated_at", "-updated_at",
    }  # fmt: skip
