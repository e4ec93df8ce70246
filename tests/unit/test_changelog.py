from __future__ import annotations

from datetime import UTC, datetime

from catalog.store.changelog import START, Change, Cursor, advance


def _change(txid: int, id: int) -> Change:
    return Change(
        id=id,
        txid=txid,
        entity="product",
        entity_id=1,
        op="insert",
        fields=None,
        stock_before=None,
        stock_after=0,
        at=datetime.now(UTC),
    )


def test_cursors_order_by_transaction_then_id() -> None:
    assert Cursor(txid=5, last_id=100) < Cursor(txid=6, last_id=1)
    assert Cursor(txid=6, last_id=1) < Cursor(txid=6, last_id=2)
    assert Cursor(txid=1, last_id=0) > START


def test_advance_moves_to_the_last_change_of_a_batch() -> None:
    batch = [_change(7, 3), _change(8, 2)]
    assert advance(START, batch) == Cursor(txid=8, last_id=2)
    assert advance(Cursor(txid=9, last_id=9), []) == Cursor(txid=9, last_id=9)
