"""Change-log rows as events: types, stable ids, bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from catalog.events.messages import events_of
from catalog.store.changelog import Change

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def change(**fields: object) -> Change:
    values: dict[str, object] = {
        "id": 10,
        "txid": 5,
        "entity": "product",
        "entity_id": 42,
        "op": "update",
        "fields": None,
        "stock_before": None,
        "stock_after": None,
        "at": AT,
    }
    return Change(**(values | fields))  # type: ignore[arg-type]


def types(c: Change) -> list[str]:
    return [e.type for e in events_of(c)]


def test_product_rows_map_to_product_and_stock_events() -> None:
    assert types(change(op="insert", stock_after=0)) == ["product.created"]
    assert types(change(op="insert", stock_after=5)) == ["product.created", "stock.changed"]
    assert types(change(fields=("name", "price"))) == ["product.updated"]
    assert types(change(fields=("stock",), stock_before=1, stock_after=3)) == ["stock.changed"]
    assert types(change(fields=("name", "stock"))) == ["product.updated", "stock.changed"]
    assert types(change(op="delete", fields=("deleted_at",))) == ["product.deleted"]
    assert types(change(op="purge")) == ["product.deleted"]


def test_category_rows_map_to_category_events() -> None:
    for op, kind in [("insert", "created"), ("update", "updated"), ("delete", "deleted")]:
        assert types(change(entity="category", op=op)) == [f"category.{kind}"]


def test_ids_are_stable_and_bodies_say_what_changed() -> None:
    row = change(fields=("stock",), stock_before=1, stock_after=3)
    first, again = events_of(row), events_of(row)
    assert [e.id for e in first] == [e.id for e in again] == ["change-10.stock.changed"]
    body = json.loads(first[0].body)
    assert body == {
        "id": "change-10.stock.changed",
        "type": "stock.changed",
        "schema": 1,
        "entity": "product",
        "entity_id": 42,
        "op": "update",
        "fields": ["stock"],
        "changed_at": "2026-12-01T12:00:00+00:00",
        "change_id": 10,
        "stock_before": 1,
        "stock_after": 3,
    }
