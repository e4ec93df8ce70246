"""Synthetic catalogue rows: a two-level category plan, and products as COPY text; pure.

Rows draw from small per-category pools (names, tags, attributes, timestamps), so a row costs
a few random numbers and one format, and the same seed gives the same rows.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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

# Products are spread over the past this many days.
HISTORY_DAYS = 730

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SKU_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,40}$")

# Per-category pools: rows pick from these, so a row costs a few random numbers and one format.
_NAME_POOL = 48
_TAG_POOL = 24
_ATTRIBUTE_POOL = 48
_TIMESTAMP_POOL = 4096
_MODEL_POOL = 2048
_CENTS = (".99", ".99", ".99", ".49", ".95", ".00")


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

    @property
    def sku_prefix(self) -> str:
        return self._sku_prefix

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
                f"\t{stamps[int(r() * len(stamps))]}\n"
            )
        self._next += count
        return "".join(lines)
