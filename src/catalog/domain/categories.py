"""Categories: the tree that products hang from, its slugs, and the rules of moving in it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NewType

from catalog.domain.errors import Conflict, InvalidInput, NotFound

CategoryId = NewType("CategoryId", int)

NAME_MAX = 200  # mirrors the CHECK on categories.name
SLUG_BASE_MAX = 80  # leaves room for a "-N" suffix and keeps URLs readable
FALLBACK_SLUG = "category"  # for names with no letter or digit at all
MAX_DEPTH = 32  # far beyond any real catalogue; bounds every walk of the tree

_NOT_SLUG = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Category:
    """A category as stored, with `path`: the names from its root down to itself."""

    id: CategoryId
    name: str
    slug: str
    parent_id: CategoryId | None
    path: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CategoryNode:
    """A category with its children, for the nested view of the tree."""

    category: Category
    children: tuple[CategoryNode, ...] = field(default=())


class UnknownCategory(NotFound):
    """A request refers to a category that does not exist (in its body or a filter): 404."""

    def __init__(self, category_id: int, *, role: str = "category") -> None:
        super().__init__(f"{role} {category_id} does not exist")
        self.category_id = category_id


class CategoryCycle(Conflict):
    def __init__(self, category_id: int, parent_id: int) -> None:
        what = (
            "under itself"
            if category_id == parent_id
            else f"under category {parent_id}, which is one of its own descendants"
        )
        super().__init__(f"cannot move category {category_id} {what}")
        self.category_id = category_id
        self.parent_id = parent_id


class DuplicateCategoryName(Conflict):
    def __init__(self, name: str, parent_id: int | None) -> None:
        where = "at the top level" if parent_id is None else f"under category {parent_id}"
        super().__init__(f"a category named {name!r} already exists {where}")
        self.name = name
        self.parent_id = parent_id


class CategoryTooDeep(InvalidInput):
    def __init__(self, depth: int) -> None:
        super().__init__(
            f"categories nest at most {MAX_DEPTH} levels deep; this change would make {depth}"
        )
        self.depth = depth


def slugify(name: str) -> str:
    """A lowercase, hyphen-separated form of `name` for URLs; never empty."""
    decomposed = unicodedata.normalize("NFKD", name)
    # Dropping combining marks turns "Crème" into "Creme" instead of "cr-me".
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    slug = _NOT_SLUG.sub("-", plain.lower()).strip("-")
    slug = slug[:SLUG_BASE_MAX].rstrip("-")
    return slug or FALLBACK_SLUG


def slug_candidates(base: str) -> Iterator[str]:
    """`base`, then `base-2`, `base-3`, ...: the slugs to try, in order, for a new category."""
    yield base
    n = 2
    while True:
        yield f"{base}-{n}"
        n += 1


def first_free_slug(base: str, *, taken: Iterable[str]) -> str:
    """The first of `slug_candidates(base)` not in `taken`."""
    used = set(taken)
    return next(slug for slug in slug_candidates(base) if slug not in used)


def build_tree(categories: Sequence[Category]) -> tuple[CategoryNode, ...]:
    """The roots of `categories` with their descendants nested, siblings in the given order."""
    children: dict[CategoryId | None, list[Category]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    nodes: dict[CategoryId, CategoryNode] = {}
    # Deepest first, so that every child's node exists before its parent's; no recursion.
    for category in sorted(categories, key=lambda c: len(c.path), reverse=True):
        kids = children.get(category.id, [])
        nodes[category.id] = CategoryNode(
            category=category, children=tuple(nodes[kid.id] for kid in kids)
        )
    return tuple(nodes[root.id] for root in children.get(None, []))


def ensure_depth_allowed(*, parent_depth: int, subtree_height: int = 1) -> None:
    """Refuse to hang a subtree `subtree_height` levels tall under a parent at `parent_depth`
    (a root has depth 1; no parent is depth 0) if that breaks the depth limit."""
    depth = parent_depth + subtree_height
    if depth > MAX_DEPTH:
        raise CategoryTooDeep(depth)
