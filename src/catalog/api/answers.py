"""The API's cached answers as `catalog.cache.warming.Answers`: what cache warming stores.

Each renders with the route's own code (`product_answer`, `tree_answer`, `counts_answer`) and
`json_bytes`, so that a warmed entry is byte for byte what a read-through would have stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.api.cached import json_bytes
from catalog.api.categories import counts_answer, tree_answer
from catalog.api.stock_forecast import details_of
from catalog.store import products as product_store


class ApiAnswers:
    """`Answers` for `catalog.cache.warming.warm`, rendered as the API routes render them."""

    async def products(self, conn: AsyncConnection, product_ids: Sequence[int]) -> dict[int, bytes]:
        # One query each for the batch; `product_answer` is this, one product at a time.
        found = await product_store.get_products(conn, product_ids)
        return {detail.id: json_bytes(detail) for detail in await details_of(conn, found)}

    async def category_tree(self, conn: AsyncConnection) -> bytes:
        return json_bytes(await tree_answer(conn))

    async def category_counts(self, conn: AsyncConnection) -> bytes:
        return json_bytes(await counts_answer(conn))


API_ANSWERS = ApiAnswers()
