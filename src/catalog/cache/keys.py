"""Cache key names: `<prefix>:v<KEY_VERSION>:<what>`, one place for all of them.

Bump `KEY_VERSION` whenever the shape of a cached value changes: new code then neither reads
old copies nor overwrites them, and the `cache-cleanup` job removes the old version's keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEY_VERSION = 1
DEFAULT_PREFIX = "catalog"

_PRODUCT = "product"
_GENERATION = "gen"


@dataclass(frozen=True)
class CacheKeys:
    """The key names of one namespace (`CATALOG_CACHE_PREFIX`), at the current version."""

    prefix: str = DEFAULT_PREFIX
    version: int = KEY_VERSION

    @property
    def base(self) -> str:
        return f"{self.prefix}:v{self.version}"

    def product(self, product_id: int) -> str:
        """`GET /api/products/{id}`'s body."""
        return f"{self.base}:{_PRODUCT}:{product_id}"

    @property
    def category_tree(self) -> str:
        """`GET /api/categories/tree`'s body."""
        return f"{self.base}:category-tree"

    @property
    def category_counts(self) -> str:
        """`GET /api/categories/counts`'s body."""
        return f"{self.base}:category-counts"

    @property
    def sentinel(self) -> str:
        """Set by `cache-warming`; its absence means the cache was flushed (or is new)."""
        return f"{self.base}:warm"

    def report(self, name: str) -> str:
        """A report's cached rendering (reports jobs)."""
        return f"{self.base}:report:{name}"

    def generation(self, key: str) -> str:
        """The counter every invalidation of `key` bumps (see `CacheBackend.fill`)."""
        return f"{self.prefix}:{_GENERATION}:{key}"

    @property
    def product_pattern(self) -> str:
        """SCAN pattern of every cached product at this version."""
        return f"{self.base}:{_PRODUCT}:*"

    def product_id(self, key: str) -> int | None:
        """The product id of a key from `product_pattern`, None for any other key."""
        head = f"{self.base}:{_PRODUCT}:"
        rest = key.removeprefix(head)
        return int(rest) if rest != key and rest.isascii() and rest.isdecimal() else None

    @property
    def namespace_pattern(self) -> str:
        """SCAN pattern of every versioned key of this namespace, any version."""
        return f"{self.prefix}:v*"

    def is_old_version(self, key: str) -> bool:
        """True for a key of this namespace written under another key version."""
        match = re.fullmatch(rf"{re.escape(self.prefix)}:v(\d+):.*", key, flags=re.DOTALL)
        return match is not None and int(match.group(1)) != self.version
