"""Category queries: create, read, rename, move and delete nodes of the category tree.

Every function runs on the caller's connection and never commits. Changes to the tree's shape
(create, move) hold a transaction-level advisory lock so that two moves can never build a cycle
or a too-deep branch between them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.categories import (
    Category,
    CategoryCycle,
    CategoryId,
    DuplicateCategoryName,
    UnknownCategory,
    ensure_depth_allowed,
    first_free_slug,
    slugify,
)
from catalog.domain.errors import CategoryInUse, CategoryNotFound
from catalog.store.tables import categories, products

# Serializes writes to the tree (shape, names, slugs) across all instances ("category" in ASCII).
TREE_LOCK_KEY = 0x63617465676F7279
SLUG_ATTEMPTS = 5  # another writer can take a slug between our read and our insert
_MAX_WALK = 64  # levels; past MAX_DEPTH, so enough to refuse a move, and it ends any cycle


class Unchanged(Enum):
    """The value of an argument that leaves its field as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED

_SIBLING_NAME_KEY = "categories_sibling_name_key"
_SLUG_KEY = "categories_slug_key"
_PARENT_FKEY = "categories_parent_id_fkey"


async def subtree_of(conn: AsyncConnection, category_id: CategoryId) -> list[CategoryId]:
    """The ids of `category_id` and every category below it; empty if it does not exist."""
    down = (
        sa.select(categories.c.id)
        .where(categories.c.id == category_id)
        .cte("subtree", recursive=True)
    )
    child = categories.alias("child")
    # UNION, not UNION ALL: it would also end a cycle, were one ever written.
    down = down.union(sa.select(child.c.id).where(child.c.parent_id == down.c.id))
    return [CategoryId(id_) for id_ in await conn.scalars(sa.select(down.c.id))]


async def list_categories(conn: AsyncConnection) -> list[Category]:
    """Every category reachable from a root, in tree order (parents first, siblings by name)."""
    root = categories.alias("root")
    tree = (
        sa.select(*_columns(root), array([root.c.name]).label("path"))
        .where(root.c.parent_id.is_(None))
        .cte("tree", recursive=True)
    )
    child = categories.alias("child")
    tree = tree.union_all(
        sa.select(
            *_columns(child),
            tree.c.path.op("||", return_type=ARRAY(sa.Text))(child.c.name),
        ).where(child.c.parent_id == tree.c.id)
    )
    rows = (await conn.execute(sa.select(tree))).all()
    found = [_category(row, path=tuple(row.path)) for row in rows]
    return sorted(found, key=lambda c: ([name.lower() for name in c.path], c.id))


async def get_category(conn: AsyncConnection, category_id: CategoryId) -> Category:
    chain = await _ancestry(conn, category_id)
    if not chain:
        raise CategoryNotFound(category_id)
    return _category(chain[-1], path=tuple(row.name for row in chain))


async def create_category(
    conn: AsyncConnection, name: str, *, parent_id: CategoryId | None
) -> Category:
    """A new category named `name` under `parent_id` (None: a root), with a slug of its own."""
    await _lock_tree(conn)
    await _check_parent(conn, parent_id, subtree_height=1, moving=None)
    base = slugify(name)
    for _ in range(SLUG_ATTEMPTS):
        slug = first_free_slug(base, taken=await _slugs_like(conn, base))
        try:
            async with conn.begin_nested():
                new_id = await conn.scalar(
                    sa.insert(categories)
                    .values(name=name, slug=slug, parent_id=parent_id)
                    .returning(categories.c.id)
                )
        except IntegrityError as exc:
            _raise_for(exc, name=name, parent_id=parent_id)
            continue  # the slug went to someone else meanwhile: pick the next free one
        assert new_id is not None
        return await get_category(conn, CategoryId(new_id))
    raise DuplicateCategoryName(name, parent_id)  # pragma: no cover - sustained slug races


async def update_category(
    conn: AsyncConnection,
    category_id: CategoryId,
    *,
    name: str | Unchanged = UNCHANGED,
    parent_id: CategoryId | Unchanged | None = UNCHANGED,
) -> Category:
    """Rename the category and/or move it (with everything below it) under `parent_id`
    (None: make it a root). A new name gets a new slug unless the old one derives from it."""
    await _lock_tree(conn)
    current = await get_category(conn, category_id)
    new_name = current.name if name is UNCHANGED else name
    new_parent = current.parent_id if parent_id is UNCHANGED else parent_id
    if (new_name, new_parent) == (current.name, current.parent_id):
        return current
    if new_parent != current.parent_id:
        await _check_parent(
            conn,
            new_parent,
            subtree_height=await _subtree_height(conn, category_id),
            moving=category_id,
        )
    base = slugify(new_name)
    keep_slug = re.fullmatch(rf"{re.escape(base)}(-\d+)?", current.slug) is not None
    for _ in range(SLUG_ATTEMPTS):
        slug = current.slug
        if not keep_slug:
            slug = first_free_slug(base, taken=set(await _slugs_like(conn, base)) - {current.slug})
        try:
            async with conn.begin_nested():
                await conn.execute(
                    sa.update(categories)
                    .where(categories.c.id == category_id)
                    .values(
                        name=new_name, slug=slug, parent_id=new_parent, updated_at=sa.func.now()
                    )
                )
        except IntegrityError as exc:
            _raise_for(exc, name=new_name, parent_id=new_parent)
            continue  # the slug went to someone else meanwhile: pick the next free one
        return await get_category(conn, category_id)
    raise DuplicateCategoryName(new_name, new_parent)  # pragma: no cover - sustained races


async def delete_category(conn: AsyncConnection, category_id: CategoryId) -> None:
    """Delete a category that no live product and no subcategory uses."""
    # The row lock makes a concurrent insert of a product or child (whose foreign-key check
    # takes a key-share lock on this row) wait for us, so nothing slips in after the checks.
    locked = await conn.scalar(
        sa.select(categories.c.id).where(categories.c.id == category_id).with_for_update()
    )
    if locked is None:
        raise CategoryNotFound(category_id)
    children = await conn.scalar(
        sa.select(sa.func.count()).where(categories.c.parent_id == category_id)
    )
    if children:
        raise CategoryInUse(
            f"category {category_id} has {children} subcategories; move or delete them first"
        )
    has_products = await conn.scalar(
        sa.select(
            sa.exists().where(
                products.c.category_id == category_id, products.c.deleted_at.is_(None)
            )
        )
    )
    if has_products:
        raise CategoryInUse(f"category {category_id} still has products; move or delete them first")
    # Soft-deleted products keep their row; the foreign key sets their category_id to NULL.
    await conn.execute(sa.delete(categories).where(categories.c.id == category_id))


async def _lock_tree(conn: AsyncConnection) -> None:
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(TREE_LOCK_KEY)))


async def _check_parent(
    conn: AsyncConnection,
    parent_id: CategoryId | None,
    *,
    subtree_height: int,
    moving: CategoryId | None,
) -> None:
    """Refuse a parent that does not exist, lies inside `moving`, or makes the branch too deep."""
    if parent_id is None:
        ensure_depth_allowed(parent_depth=0, subtree_height=subtree_height)
        return
    chain = await _ancestry(conn, parent_id)
    if not chain:
        raise UnknownCategory(parent_id, role="parent category")
    if moving is not None and any(row.id == moving for row in chain):
        raise CategoryCycle(moving, parent_id)
    ensure_depth_allowed(parent_depth=len(chain), subtree_height=subtree_height)


async def _ancestry(
    conn: AsyncConnection, category_id: CategoryId
) -> list[sa.Row[tuple[object, ...]]]:
    """The rows from the root down to `category_id`; empty if it does not exist."""
    up = (
        sa.select(*_columns(categories))
        .where(categories.c.id == category_id)
        .cte("up", recursive=True)
    )
    parent = categories.alias("parent")
    up = up.union(sa.select(*_columns(parent)).where(parent.c.id == up.c.parent_id))
    rows = {row.id: row for row in (await conn.execute(sa.select(up))).all()}
    chain: list[sa.Row[tuple[object, ...]]] = []
    next_id: object = category_id
    while next_id in rows and len(chain) < len(rows):
        row = rows[next_id]
        chain.append(row)
        next_id = row.parent_id
    return chain[::-1]


async def _subtree_height(conn: AsyncConnection, category_id: CategoryId) -> int:
    """How many levels the subtree rooted at `category_id` spans (a leaf: 1)."""
    down = (
        sa.select(categories.c.id, sa.literal(1).label("level"))
        .where(categories.c.id == category_id)
        .cte("down", recursive=True)
    )
    child = categories.alias("child")
    down = down.union(
        sa.select(child.c.id, down.c.level + 1).where(
            child.c.parent_id == down.c.id,
            down.c.level <= _MAX_WALK,
        )
    )
    height = await conn.scalar(sa.select(sa.func.max(down.c.level)))
    return int(height or 1)


async def _slugs_like(conn: AsyncConnection, base: str) -> Sequence[str]:
    """Slugs in use that are `base` or `base-<something>`."""
    # Slugs hold only word characters other than '_' and hyphens, so LIKE needs no escaping.
    query = sa.select(categories.c.slug).where(
        sa.or_(categories.c.slug == base, categories.c.slug.like(f"{base}-%"))
    )
    return (await conn.scalars(query)).all()


def _raise_for(exc: IntegrityError, *, name: str, parent_id: CategoryId | None) -> None:
    """Raise the domain error for a violated constraint; return only for a slug clash."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if constraint == _SLUG_KEY:
        return
    if constraint == _SIBLING_NAME_KEY:
        raise DuplicateCategoryName(name, parent_id) from None
    if constraint == _PARENT_FKEY and parent_id is not None:
        raise UnknownCategory(parent_id, role="parent category") from None
    raise exc


def _columns(table: sa.FromClause) -> list[sa.ColumnElement[object]]:
    return [
        table.c.id,
        table.c.name,
        table.c.slug,
        table.c.parent_id,
        table.c.created_at,
        table.c.updated_at,
    ]


def _category(row: sa.Row[tuple[object, ...]], *, path: tuple[str, ...]) -> Category:
    return Category(
        id=CategoryId(row.id),
        name=row.name,
        slug=row.slug,
        parent_id=None if row.parent_id is None else CategoryId(row.parent_id),
        path=path,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
