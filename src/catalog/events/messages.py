"""Change-log rows as events: routing key, a stable id, and a JSON body.

An event's id is derived from its change-log row (`change-<row id>.<type>`), so a row
published twice (the relay repeats what it had not confirmed when it stopped) carries the same
id both times: consumers drop duplicates by id.

| change-log row | events |
| --- | --- |
| product insert | `product.created` (and `stock.changed` if it starts with stock) |
| product update | `product.updated` for fields other than stock, `stock.changed` if stock changed |
| product delete (soft) or purge | `product.deleted` |
| category insert / update / delete | `category.created` / `category.updated` / `category.deleted` |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC

from catalog.store.changelog import Change

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Event:
    id: str
    type: str  # the routing key, e.g. "product.updated"
    body: bytes  # JSON


def events_of(change: Change) -> list[Event]:
    """The events one change-log row stands for, in the order they are published."""
    types: list[str] = []
    if change.entity == "product":
        if change.op == "insert":
            types.append("product.created")
            if change.stock_after:
                types.append("stock.changed")
        elif change.op == "update":
            fields = set(change.fields or ())
            if fields - {"stock"}:
                types.append("product.updated")
            if "stock" in fields:
                types.append("stock.changed")
        else:
            types.append("product.deleted")
    else:
        op = {"insert": "created", "update": "updated"}.get(change.op, "deleted")
        types.append(f"category.{op}")
    return [_event(change, kind) for kind in types]


def _event(change: Change, kind: str) -> Event:
    event_id = f"change-{change.id}.{kind}"
    body: dict[str, object] = {
        "id": event_id,
        "type": kind,
        "schema": SCHEMA_VERSION,
        "entity": change.entity,
        "entity_id": change.entity_id,
        "op": change.op,
        "fields": list(change.fields) if change.fields is not None else None,
        "changed_at": change.at.astimezone(UTC).isoformat(),
        "change_id": change.id,
    }
    if kind == "stock.changed":
        body["stock_before"] = change.stock_before
        body["stock_after"] = change.stock_after
    return Event(id=event_id, type=kind, body=json.dumps(body, separators=(",", ":")).encode())
