from __future__ import annotations

import pytest

from catalog.store import demo_names
from catalog.store.demo_names import DEPARTMENTS


def _words() -> list[str]:
    words = [*demo_names.SERIES, *demo_names.COMMON_TAGS]
    for d in DEPARTMENTS:
        words += [d.name, *d.brands, *d.adjectives, *d.features, *d.tags]
        for key, values in d.attributes:
            words += [key, *(str(v) for v in values)]
        for sub in d.subcategories:
            words += [sub.name, *sub.nouns]
    return words


@pytest.mark.parametrize("character", ["\t", "\n", "\r", "\\", '"'])
def test_words_need_no_escaping(character: str) -> None:
    assert not [w for w in _words() if character in w]


def test_tags_are_single_tokens() -> None:
    tags = [*demo_names.COMMON_TAGS, *(t for d in DEPARTMENTS for t in d.tags)]
    assert all(t == t.lower() and " " not in t and "," not in t for t in tags)


def test_every_department_has_enough_to_build_from() -> None:
    for d in DEPARTMENTS:
        assert len(d.brands) >= 4, d.name
        assert len(d.subcategories) >= 5, d.name
        assert len(d.features) >= 2, d.name
        assert len(d.attributes) >= 2, d.name
        for sub in d.subcategories:
            low, high = sub.price_range
            assert 0 < low < high, sub.name
    assert len({d.name for d in DEPARTMENTS}) == len(DEPARTMENTS)


def test_mixes_add_up_to_one() -> None:
    assert sum(share for share, _, _ in demo_names.STOCK_MIX) == pytest.approx(1)
    assert sum(share for share, _ in demo_names.STATUS_MIX) == pytest.approx(1)
