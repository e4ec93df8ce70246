from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog.domain.categories import slugify
from catalog.domain.stock import StockLevel, level_of
from catalog.store import seed, seed_rows
from catalog.store.seed_rows import Leaf, ProductRows

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _leaves(count: int = 30) -> list[Leaf]:
    plans = seed_rows.plan_categories(count)
    return [Leaf(id=n, plan=plan) for n, plan in enumerate(seed_rows.leaves_of(plans), start=1)]


def _fields(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def test_thirty_categories_are_five_departments_of_five() -> None:
    plans = seed_rows.plan_categories(30)
    departments = [p for p in plans if p.parent_slug is None]
    assert len(plans) == 30
    assert len(departments) == 5
    assert {p.parent_slug for p in plans if p.parent_slug} == {d.slug for d in departments}
    assert len({p.slug for p in plans}) == 30
    assert len(seed_rows.leaves_of(plans)) == 25


@pytest.mark.parametrize("count", [1, 2, 7, 200, 400])
def test_any_category_count_gives_that_many_unique_categories(count: int) -> None:
    plans = seed_rows.plan_categories(count)
    assert len(plans) == count
    assert len({p.slug for p in plans}) == count
    assert len({(p.parent_slug, p.name.lower()) for p in plans}) == count
    assert seed_rows.leaves_of(plans)


def test_slugs_are_what_the_api_would_give_the_names() -> None:
    assert all(p.slug == slugify(p.name) for p in seed_rows.plan_categories(400))


def test_rows_are_deterministic_for_a_seed() -> None:
    one = ProductRows(_leaves(), seed=3, sku_prefix="A", now=NOW).take(500)
    two = ProductRows(_leaves(), seed=3, sku_prefix="A", now=NOW)
    assert one == two.take(200) + two.take(300)  # however the stream is cut into batches
    assert one != ProductRows(_leaves(), seed=4, sku_prefix="A", now=NOW).take(500)


def test_rows_are_complete_copy_lines_with_unique_skus() -> None:
    rows = _fields(ProductRows(_leaves(), seed=0, sku_prefix="S0-X", now=NOW).take(2000))
    assert {len(r) for r in rows} == {12}
    assert len({r[0] for r in rows}) == 2000
    assert rows[0][0] == "S0-X-0000001"
    assert {int(r[3]) for r in rows} <= set(range(1, 26))
    assert all(float(r[5]) >= 1 for r in rows)
    assert {r[7] for r in rows} == {"active", "draft", "archived"}


def test_stock_covers_every_level() -> None:
    rows = _fields(ProductRows(_leaves(), seed=0, sku_prefix="S", now=NOW).take(2000))
    levels = [level_of(int(r[6])) for r in rows]
    assert set(levels) == set(StockLevel)
    assert levels.count(StockLevel.IN_STOCK) > len(levels) / 2


def test_names_mention_the_brand() -> None:
    rows = _fields(ProductRows(_leaves(), seed=0, sku_prefix="S", now=NOW).take(100))
    assert all(r[1].startswith(r[4] + " ") for r in rows)


def test_copy_text_escapes_what_copy_would_misread() -> None:
    assert seed_rows.copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"


def test_sku_prefix_must_be_plain() -> None:
    with pytest.raises(ValueError, match="SKU prefix"):
        ProductRows(_leaves(), seed=0, sku_prefix="bad\tprefix")
    assert seed.new_sku_prefix(5) != seed.new_sku_prefix(5)
