"""Synthetic catalogues: a category tree and products loaded with COPY, for demos and benchmarks.

Products go in through COPY, never row by row: into an empty catalogue in one transaction with
the secondary indexes built after the load, otherwise in batches of one transaction each. The
change-log triggers fire for COPY as for INSERT (one statement, one transition table per batch),
so every seeded product is in the change log like any other write.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from catalog.domain.categories import slugify
from catalog.store.demo_names import (
    COMMON_TAGS,
    DEPARTMENTS,
    SERIES,
    STATUS_MIX,
    STOCK_MIX,
    Department,
    Subcategory,
)

# Rows per transaction: large enough to amortise the trigger's statement, small enough that no
# seeding transaction holds back change-log readers (they wait for the oldest open xid) for long.
BATCH_ROWS = 100_000
# Rows per write to the COPY stream (about 2 MB of text).
CHUNK_ROWS = 10_000
# Products are spread over the past this many days.
HISTORY_DAYS = 730

COPY_PRODUCTS = (
    "COPY products (sku, name, description, category_id, brand, price, stock, status, tags,"
    " attributes, popularity, created_at, updated_at) FROM STDIN"
)

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SKU_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,40}$")

# Per-category pools: rows pick from these, so a row costs a few random numbers and one format.
_NAME_POOL = 48
_TAG_POOL = 24
_ATTRIBUTE_POOL = 48
_TIMESTAMP_POOL = 4096
_MODEL_POOL = 2048
_CENTS = (".99", ".99", ".99", ".49", ".95", ".00")


class SeedError(RuntimeError):
    """The synthetic catalogue could not be loaded as asked."""


@dataclass(frozen=True)
class CategoryPlan:
    """A category to create: a department (no parent) or one of its subcategories."""

    name: str
    slug: str
    parent_slug: str | None
    department: Department
    subcategory: Subcategory | None


@dataclass(frozen=True)
class Leaf:
    """A category products go into, with its id in this database."""

    id: int
    plan: CategoryPlan


@dataclass(frozen=True)
class SeedReport:
    products: int
    categories: int
    seconds: float
    sku_prefix: str
    indexes_rebuilt: bool  # loaded into an empty catalogue with indexes built after

    @property
    def rows_per_s(self) -> float:
        return self.products / self.seconds if self.seconds > 0 else 0.0


def plan_categories(count: int) -> list[CategoryPlan]:
    """About `count` categories in two levels: sqrt(count) departments sharing the rest."""
    if count < 1:
        raise ValueError(f"need at least one category, not {count}")
    departments = DEPARTMENTS[: max(1, min(len(DEPARTMENTS), round(math.sqrt(count))))]
    plans = [
        CategoryPlan(
            name=d.name, slug=slugify(d.name), parent_slug=None, department=d, subcategory=None
        )
        for d in departments
    ]
    for n in range(count - len(departments)):
        department = departments[n % len(departments)]
        round_, index = divmod(n // len(departments), len(department.subcategories))
        sub = department.subcategories[index]
        # Past the named subcategories, further ones repeat them as numbered ranges.
        name = sub.name if round_ == 0 else f"{sub.name} Range {round_ + 1}"
        plans.append(
            CategoryPlan(
                name=name,
                slug=slugify(name),
                parent_slug=slugify(department.name),
                department=department,
                subcategory=sub,
            )
        )
    return plans


def leaves_of(plans: Sequence[CategoryPlan]) -> list[CategoryPlan]:
    """The categories without subcategories: where products go."""
    parents = {p.parent_slug for p in plans if p.parent_slug is not None}
    return [p for p in plans if p.slug not in parents]


def copy_text(value: str) -> str:
    """`value` escaped for a field of COPY's text format."""
    return value.translate(_COPY_ESCAPES)


@dataclass(frozen=True)
class _Kit:
    """What the products of one leaf category are made of, pre-escaped for COPY."""

    category_id: str
    brands: tuple[str, ...]
    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    tags: tuple[str, ...]
    attributes: tuple[str, ...]
    log_price_low: float
    log_price_span: float


def _kit(leaf: Leaf, *, seed: int) -> _Kit:
    # Seeded by the category's slug, not its id: the same seed gives the same catalogue in
    # any database.
    rng = random.Random(f"{seed}/{leaf.plan.slug}")
    dept = leaf.plan.department
    sub = leaf.plan.subcategory or dept.subcategories[0]
    brands = rng.sample(dept.brands, k=min(len(dept.brands), rng.randint(4, 6)))
    # A name and its description describe the same thing.
    names, descriptions = [], []
    for _ in range(_NAME_POOL):
        series, adjective, noun = (
            rng.choice(SERIES),
            rng.choice(dept.adjectives),
            rng.choice(sub.nouns),
        )
        names.append(
            rng.choice((f"{series} {adjective} {noun}", f"{adjective} {noun}", f"{noun} {series}"))
        )
        one, two = rng.sample(dept.features, k=2)
        descriptions.append(f"{adjective} {noun.lower()} from the {series} range. {one} {two}")
    tags = []
    for _ in range(_TAG_POOL):
        chosen = rng.sample(dept.tags, k=rng.randint(1, 2))
        if rng.random() < 0.3:
            chosen.append(rng.choice(COMMON_TAGS))
        tags.append("{" + ",".join(f'"{t}"' for t in chosen) + "}")
    attributes = []
    for _ in range(_ATTRIBUTE_POOL):
        picked = rng.sample(dept.attributes, k=rng.randint(2, len(dept.attributes)))
        attributes.append(
            json.dumps({key: rng.choice(values) for key, values in picked}, ensure_ascii=False)
        )
    low, high = sub.price_range
    return _Kit(
        category_id=str(leaf.id),
        brands=tuple(copy_text(b) for b in brands),
        names=tuple(copy_text(n) for n in names),
        descriptions=tuple(copy_text(d) for d in descriptions),
        tags=tuple(copy_text(t) for t in tags),
        attributes=tuple(copy_text(a) for a in attributes),
        log_price_low=math.log(low),
        log_price_span=math.log(high) - math.log(low),
    )


class ProductRows:
    """A deterministic stream of synthetic products as COPY text rows, for `leaves`."""

    def __init__(
        self,
        leaves: Sequence[Leaf],
        *,
        seed: int,
        sku_prefix: str,
        now: datetime | None = None,
    ) -> None:
        if not leaves:
            raise ValueError("products need at least one category")
        if not _SKU_PREFIX.match(sku_prefix):
            raise ValueError(f"SKU prefix must be letters, digits and dashes: {sku_prefix!r}")
        self._rng = random.Random(seed)
        self._sku_prefix = sku_prefix
        self._kits = [_kit(leaf, seed=seed) for leaf in sorted(leaves, key=lambda x: x.plan.slug)]
        # Some categories are much bigger than others, as in real shops.
        weights = [self._rng.paretovariate(1.5) for _ in self._kits]
        self._cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
        self._models = tuple(
            f"{self._rng.choice('ABCDEFGHJKLMNPRSTVXZ')}{self._rng.randint(1, 999)}"
            for _ in range(_MODEL_POOL)
        )
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        stamps = []
        for _ in range(_TIMESTAMP_POOL):
            created = now - timedelta(seconds=self._rng.randint(0, HISTORY_DAYS * 86_400))
            updated = created + (now - created) * self._rng.random() ** 3
            stamps.append(f"{created.isoformat()}\t{updated.replace(microsecond=0).isoformat()}")
        self._stamps = tuple(stamps)
        self._next = 1

    def take(self, count: int) -> str:
        """The next `count` products, one COPY text line each."""
        r = self._rng.random
        kits, cumulative, total = self._kits, self._cumulative, self._cumulative[-1]
        models, stamps, prefix = self._models, self._stamps, self._sku_prefix
        (out_share, out, _), (critical_share, critical_low, critical_high), *_ = STOCK_MIX
        (low_share, low_low, low_high), (_, in_low, in_high) = STOCK_MIX[2:]
        critical_share += out_share
        low_share += critical_share
        (active_share, _), (draft_share, _), _ = STATUS_MIX
        draft_share += active_share
        lines = []
        for n in range(self._next, self._next + count):
            kit = kits[bisect.bisect_left(cumulative, r() * total)]
            brand = kit.brands[int(r() * len(kit.brands))]
            which = int(r() * len(kit.names))
            model = models[int(r() * len(models))]
            price = int(math.exp(kit.log_price_low + r() * kit.log_price_span))
            cents = _CENTS[int(r() * len(_CENTS))]
            level = r()
            if level < out_share:
                stock = out
            elif level < critical_share:
                stock = critical_low + int(r() * (critical_high - critical_low + 1))
            elif level < low_share:
                stock = low_low + int(r() * (low_high - low_low + 1))
            else:  # most have a few dozen, a few have hundreds
                stock = in_low + int(r() ** 2 * (in_high - in_low + 1))
            pick = r()
            status = (
                "active" if pick < active_share else "draft" if pick < draft_share else "archived"
            )
            lines.append(
                f"{prefix}-{n:07d}\t{brand} {kit.names[which]} {model}\t{kit.descriptions[which]}"
                f"\t{kit.category_id}\t{brand}\t{max(price, 1)}{cents}\t{stock}\t{status}"
                f"\t{kit.tags[int(r() * len(kit.tags))]}"
                f"\t{kit.attributes[int(r() * len(kit.attributes))]}"
                f"\t{r() ** 3 * 100:.2f}\t{stamps[int(r() * len(stamps))]}\n"
            )
        self._next += count
        return "".join(lines)


async def ensure_categories(
    conn: psycopg.AsyncConnection[Any], plans: Sequence[CategoryPlan]
) -> list[Leaf]:
    """Create the planned categories that are missing; the leaves with their ids.

    An existing category of the same slug, or of the same name under the same parent, is reused,
    so seeding again appends to the catalogue.
    """
    ids: dict[str, int] = {}
    for plan in plans:  # departments come first
        parent_id = ids[plan.parent_slug] if plan.parent_slug is not None else None
        cur = await conn.execute(
            """
            WITH created AS (
                INSERT INTO categories (name, slug, parent_id)
                VALUES (%(name)s, %(slug)s, %(parent)s)
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            SELECT id FROM created
            UNION ALL
            (SELECT id FROM categories
             WHERE slug = %(slug)s
                OR (coalesce(parent_id, 0) = coalesce(%(parent)s, 0)
                    AND lower(name) = lower(%(name)s))
             ORDER BY slug = %(slug)s DESC
             LIMIT 1)
            """,
            {"name": plan.name, "slug": plan.slug, "parent": parent_id},
        )
        row = await cur.fetchone()
        if row is None:
            raise SeedError(f"category {plan.slug!r} could not be created or found")
        ids[plan.slug] = row[0]
    return [Leaf(id=ids[plan.slug], plan=plan) for plan in leaves_of(plans)]


async def copy_products(
    conn: psycopg.AsyncConnection[Any], rows: ProductRows, *, count: int
) -> None:
    """COPY the next `count` products of `rows` in the connection's current transaction."""
    async with conn.cursor() as cur, cur.copy(COPY_PRODUCTS) as copy:
        left = count
        while left > 0:
            chunk = min(CHUNK_ROWS, left)
            await copy.write(rows.take(chunk))
            left -= chunk


def new_sku_prefix(seed: int) -> str:
    """A prefix no earlier run used, so that appending never collides on SKU."""
    return f"S{seed}-{secrets.token_hex(3).upper()}"


async def seed_products(
    url: str,
    *,
    products: int,
    categories: int = 30,
    seed: int = 0,
    batch_rows: int = BATCH_ROWS,
    sku_prefix: str | None = None,
) -> SeedReport:
    """Add `products` synthetic products in about `categories` categories to the database.

    Into an empty catalogue everything loads in one transaction, with the secondary indexes of
    `products` dropped and rebuilt after the load (as pg_restore does): index upkeep costs
    about twice the load itself. Otherwise each batch of `batch_rows` commits on its own, and a
    failure keeps the batches before it.
    """
    if products < 0:
        raise ValueError(f"products must not be negative, not {products}")
    prefix = sku_prefix or new_sku_prefix(seed)
    plans = plan_categories(categories)
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # The change-log trigger sorts each batch's transition table; keep that in memory.
        await conn.execute("SET work_mem = '64MB'")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        leaves = await ensure_categories(conn, plans)
        await conn.commit()
        rows = ProductRows(leaves, seed=seed, sku_prefix=prefix)
        rebuilt = products > 0 and await _load_into_empty(conn, rows, products, batch_rows)
        if not rebuilt:
            for batch in _batches(products, batch_rows):
                await copy_products(conn, rows, count=batch)
                await conn.commit()
        if products:
            # Fresh statistics, or the first queries plan as if the tables were empty.
            await conn.execute("ANALYZE categories, products, change_log")
            await conn.commit()
    return SeedReport(
        products=products,
        categories=len(plans),
        seconds=time.perf_counter() - started,
        sku_prefix=prefix,
        indexes_rebuilt=rebuilt,
    )


async def _load_into_empty(
    conn: psycopg.AsyncConnection[Any], rows: ProductRows, products: int, batch_rows: int
) -> bool:
    """Load with the secondary indexes dropped if `products` is empty; False if it is not."""
    if await _has_products(conn):
        await conn.rollback()
        return False
    # Readers wait for this lock rather than see a table without its indexes.
    await conn.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
    if await _has_products(conn):  # another seeder came first
        await conn.rollback()
        return False
    cur = await conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = 'products'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """
    )
    indexes = await cur.fetchall()
    for name, _ in indexes:
        await conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    # Statements of `batch_rows` keep each trigger's transition table moderate.
    for batch in _batches(products, batch_rows):
        await copy_products(conn, rows, count=batch)
    for _, definition in indexes:
        await conn.execute(sql.SQL(definition))
    await conn.commit()
    return True


async def _has_products(conn: psycopg.AsyncConnection[Any]) -> bool:
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM products)")
    row = await cur.fetchone()
    return bool(row and row[0])


def _batches(total: int, size: int) -> list[int]:
    if size < 1:
        raise ValueError(f"batch size must be positive, not {size}")
    return [min(size, total - start) for start in range(0, total, size)]
