"""Search test helpers: documents made to order, and the backends the shared tests run on."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from catalog.domain.stock import level_of
from catalog.search.backend import SearchBackend
from catalog.search.documents import ProductDocument
from catalog.search.tantivy_index import TantivySearch

ELASTICSEARCH_URL_VAR = "CATALOG_ELASTICSEARCH_URL"
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def document(
    product_id: int,
    name: str,
    *,
    description: str = "",
    sku: str | None = None,
    brand: str | None = "Acme",
    category_ids: tuple[int, ...] = (1,),
    price: str = "9.99",
    stock: int = 20,
    status: str = "active",
    tags: tuple[str, ...] = (),
    popularity: float = 0.0,
) -> ProductDocument:
    return ProductDocument(
        id=product_id,
        sku=sku or f"SKU-{product_id:05d}",
        name=name,
        description=description,
        brand=brand,
        category_id=category_ids[-1] if category_ids else None,
        category_ids=category_ids,
        category_names=tuple(f"Category {c}" for c in category_ids),
        price=Decimal(price),
        currency="USD",
        stock=stock,
        stock_level=level_of(stock).value,
        status=status,
        tags=tags,
        popularity=popularity,
        created_at=BASE_TIME + timedelta(hours=product_id),
        updated_at=BASE_TIME + timedelta(hours=product_id),
    )


async def open_backend(kind: str, tmp_path: Path) -> AsyncIterator[SearchBackend]:
    """A fresh, empty backend of `kind` ('tantivy' or 'elasticsearch'), closed afterwards."""
    if kind == "tantivy":
        backend: SearchBackend = TantivySearch(tmp_path / "search" / "tantivy")
    else:
        from catalog.search.elastic import ElasticsearchSearch

        url = os.environ[ELASTICSEARCH_URL_VAR]
        prefix = f"catalog-test-{os.urandom(4).hex()}"
        backend = ElasticsearchSearch(url, index_prefix=prefix)
    try:
        yield backend
    finally:
        if isinstance(backend, TantivySearch):
            await backend.close()
        else:
            await backend.destroy()  # every index and alias under the test's prefix
