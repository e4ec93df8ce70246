"""Pure category rules: slugs, the nested tree, the depth limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog.domain.categories import (
    MAX_DEPTH,
    SLUG_BASE_MAX,
    Category,
    CategoryCycle,
    CategoryId,
    CategoryTooDeep,
    build_tree,
    ensure_depth_allowed,
    first_free_slug,
    slugify,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Shoes", "shoes"),
        ("Home & Garden", "home-garden"),
        ("  Men's   Shoes!  ", "men-s-shoes"),
        ("Crème Brûlée", "creme-brulee"),
        ("snake_case name", "snake-case-name"),
        ("\uff34\uff36 & \uff21\uff55\uff44\uff49\uff4f", "tv-audio"),  # full-width: ASCII
        ("電子機器", "電子機器"),  # letters without an ASCII form are kept
        ("!!!", "category"),
        ("", "category"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_slug_is_bounded_and_never_ends_with_a_hyphen() -> None:
    slug = slugify("a" * (SLUG_BASE_MAX - 1) + " bcd")
    assert len(slug) <= SLUG_BASE_MAX
    assert not slug.endswith("-")


def test_first_free_slug_adds_the_lowest_free_suffix() -> None:
    assert first_free_slug("shoes", taken=[]) == "shoes"
    assert first_free_slug("shoes", taken=["shoes"]) == "shoes-2"
    assert first_free_slug("shoes", taken=["shoes", "shoes-2", "shoes-4"]) == "shoes-3"
    assert first_free_slug("shoes", taken=["shoes-2"]) == "shoes"


def category(id: int, parent: int | None, path: tuple[str, ...]) -> Category:
    return Category(
        id=CategoryId(id),
        name=path[-1],
        slug=path[-1].lower(),
        parent_id=None if parent is None else CategoryId(parent),
        path=path,
        created_at=NOW,
        updated_at=NOW,
    )


def test_build_tree_nests_children_in_the_given_order() -> None:
    flat = [
        category(1, None, ("A",)),
        category(3, 1, ("A", "A1")),
        category(4, 3, ("A", "A1", "A1x")),
        category(5, 1, ("A", "A2")),
        category(2, None, ("B",)),
    ]
    roots = build_tree(flat)
    assert [r.category.id for r in roots] == [1, 2]
    assert [c.category.id for c in roots[0].children] == [3, 5]
    assert [c.category.id for c in roots[0].children[0].children] == [4]
    assert roots[1].children == ()


def test_build_tree_handles_a_chain_deeper_than_the_recursion_limit() -> None:
    depth = 5000
    flat = [
        category(n, None if n == 1 else n - 1, tuple(f"c{i}" for i in range(1, n + 1)))
        for n in range(1, depth + 1)
    ]
    node = build_tree(flat)[0]
    levels = 1
    while node.children:
        node = node.children[0]
        levels += 1
    assert levels == depth


def test_depth_limit() -> None:
    ensure_depth_allowed(parent_depth=0)
    ensure_depth_allowed(parent_depth=MAX_DEPTH - 1)
    ensure_depth_allowed(parent_depth=MAX_DEPTH - 3, subtree_height=3)
    with pytest.raises(CategoryTooDeep):
        ensure_depth_allowed(parent_depth=MAX_DEPTH)
    with pytest.raises(CategoryTooDeep):
        ensure_depth_allowed(parent_depth=MAX_DEPTH - 2, subtree_height=3)


def test_cycle_error_says_what_was_refused() -> None:
    assert CategoryCycle(5, 5).message == "cannot move category 5 under itself"
    assert "category 9, which is one of its own descendants" in CategoryCycle(5, 9).message
