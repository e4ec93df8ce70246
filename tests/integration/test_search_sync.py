"""search-sync, reconcile and rebuild against a real PostgreSQL and a tantivy index in tmp_path."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.bootstrap import Runtime
from catalog.jobs import search_sync
from catalog.search import rebuild, sync, tantivy_index
from catalog.search.backend import SearchBackend
from catalog.search.documents import iter_documents, load_documents
from catalog.search.query import SearchQuery
from catalog.search.tantivy_index import TantivySearch
from catalog.store import changelog
from catalog.work.services.context import Trigger
from tests.support import inproc
from tests.support.catalogue import add_category, add_product
from tests.support.polling import eventually
from tests.support.search import document


async def fill(db: AsyncEngine, count: int = 5) -> tuple[int, int, list[int]]:
    """A category `Tools` under `Home`, and `count` products in it named 'Product N'."""
    async with db.begin() as conn:
        home = await add_category(conn, "Home")
        tools = await add_category(conn, "Tools", parent_id=home)
        ids = [
            await add_product(conn, f"SKU-{n}", category_id=tools, stock=n, price=10 * n)
            for n in range(1, count + 1)
        ]
        await conn.execute(
            sa.text("UPDATE products SET name = 'Product ' || sku, description = 'handy'")
        )
    return home, tools, ids


async def execute(db: AsyncEngine, sql: str, **params: object) -> None:
    async with db.begin() as conn:
        await conn.execute(sa.text(sql), params)


async def found(search: SearchBackend, text: str = "", **filters: object) -> list[int]:
    result = await search.search(SearchQuery(text=text, limit=100, **filters))  # type: ignore[arg-type]
    return sorted(hit.id for hit in result.hits)


async def settled(db: AsyncEngine) -> None:
    """Wait until every change-log row is readable: other sessions on the shared server may
    hold the snapshot horizon back for a moment."""

    async def readable() -> bool:
        async with db.connect() as conn:
            last = (
                await conn.execute(
                    sa.text(
                        "SELECT txid::text::bigint AS txid, id FROM change_log"
                        " ORDER BY txid DESC, id DESC LIMIT 1"
                    )
                )
            ).one()
            return await changelog.end_of_log(conn) == changelog.Cursor(last.txid, last.id)

    await eventually(readable, what="every change readable")


async def cursor_of(db: AsyncEngine) -> changelog.Cursor | None:
    async with db.connect() as conn:
        return await sync.saved_cursor(conn)


def test_the_service_is_declared_as_the_safety_net_with_notify(runtime: Runtime) -> None:
    definition = runtime.work.services["search-sync"]
    assert definition.interval_s == 5  # catches changes no NOTIFY announces
    assert definition.listen == changelog.CHANNEL


def test_reconcile_runs_first_on_a_wake_and_every_30_minutes_not_every_interval() -> None:
    def due(trigger: Trigger, reconciled_ago_s: float | None) -> bool:
        state = search_sync._LeaderState(
            reconciled_at=None if reconciled_ago_s is None else time.monotonic() - reconciled_ago_s
        )
        return search_sync._reconcile_due(SimpleNamespace(trigger=trigger), state)  # type: ignore[arg-type]

    assert due(Trigger.INTERVAL, None)  # a new leader's first step
    assert not due(Trigger.INTERVAL, 60)
    assert not due(Trigger.NOTIFY, 1799)
    assert due(Trigger.NOTIFY, 1800)
    assert due(Trigger.WAKE, 1)  # an operator asked for it


async def test_the_service_builds_then_follows_commits_deletes_and_renames(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    db, search = runtime.engine, runtime.search
    home, _, ids = await fill(db)
    async with inproc.services(runtime, "search-sync"):
        await eventually(lambda: search.live_generation(), what="the first build")
        assert await eventually(lambda: found(search, "product")) == ids

        await execute(db, "UPDATE products SET name = 'Cordless drill' WHERE id = :id", id=ids[0])
        assert await eventually(lambda: found(search, "drill"), timeout_s=5) == [ids[0]]

        await execute(db, "UPDATE products SET deleted_at = now() WHERE id = :id", id=ids[1])
        await eventually(
            lambda: _absent(search, ids[1]), timeout_s=5, what="the deleted product leaving"
        )

        await execute(db, "UPDATE categories SET name = 'Garden' WHERE id = :id", id=home)

        async def renamed() -> bool:
            hits = (await search.search(SearchQuery(text="drill"))).hits
            return bool(hits) and hits[0].source["category_names"] == ["Garden", "Tools"]

        await eventually(renamed, timeout_s=5, what="the category path renamed")
        assert await found(search, category_id=home) == [i for i in ids if i != ids[1]]

        # An operator's wake-up reconciles at once (a fresh build counts as reconciled).
        woken = await client.post("/api/backgroundjobs/background-services/search-sync/wake")
        assert woken.status_code == 202, woken.text

        async def reconciled() -> dict[str, Any] | None:
            status = await _status(client)
            return status if (status["details"] or {}).get("last_reconcile") else None

        status = await eventually(reconciled, timeout_s=10, what="a reconcile reported")
    assert status["lag_rows"] == 0, status
    details = status["details"]
    assert details["generation"] == await search.live_generation()
    assert details["last_batch"]["size"] >= 1
    check = details["last_reconcile"]
    assert (check["missing"], check["stale"], check["extra"]) == (0, 0, 0)
    assert check["checked"] == len(ids) - 1


async def test_an_index_of_an_older_schema_answers_until_search_sync_has_built_anew(
    runtime: Runtime,
) -> None:
    """An upgrade: the live generation was built before the `words` field. Searches read it
    (field by field) while search-sync builds one of the current schema and swaps it in."""
    db, search = runtime.engine, runtime.search
    assert isinstance(search, TantivySearch)
    _, _, ids = await fill(db)
    older = TantivySearch(search.root, schema_version=1)
    old = (await rebuild.rebuild(db, older)).generation
    await older.close()
    assert (search.root / old / tantivy_index.SCHEMA_FILE).read_text() == "1"
    assert "words" not in (search.root / old / "meta.json").read_text()

    assert await search.live_generation() is None  # to the writers: one to build again
    assert await found(search, "product") == ids  # searches still answer from it
    assert await found(search, "prodcut") == ids  # with typos

    async with inproc.services(runtime, "search-sync"):
        new = await eventually(lambda: search.live_generation(), what="the rebuild")
    assert new != old and not (search.root / old).exists()
    assert (search.root / new / tantivy_index.SCHEMA_FILE).read_text() == "2"
    assert await found(search, "product") == ids
    assert await found(search, "prodcut") == ids


async def _absent(search: SearchBackend, product_id: int) -> bool:
    return product_id not in await found(search)


async def _status(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/api/backgroundjobs/background-services/search-sync")
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


async def next_batch(
    conn: AsyncConnection, search: SearchBackend, **options: Any
) -> sync.BatchReport:
    """The next batch applied, once its rows are readable: other sessions on the shared server
    may hold the snapshot horizon back for a moment."""

    async def attempt() -> sync.BatchReport | None:
        return await sync.apply_batch(conn, search, **options)

    report: sync.BatchReport = await eventually(attempt, what="a readable batch")
    return report


class Killed(Exception):
    """Stands for the process dying between the index commit and the cursor save."""


async def test_a_step_killed_after_commit_repeats_its_batch_and_loses_nothing(
    runtime: Runtime,
) -> None:
    db, search = runtime.engine, runtime.search
    _, _, ids = await fill(db)
    await settled(db)
    await rebuild.rebuild(db, search)
    before = await cursor_of(db)
    await execute(db, "UPDATE products SET name = 'Angle grinder' WHERE id = :id", id=ids[2])
    await execute(db, "UPDATE products SET deleted_at = now() WHERE id = :id", id=ids[3])
    await settled(db)

    killed: list[bool] = []

    def die() -> None:
        killed.append(True)
        raise Killed

    async with db.connect() as conn:
        with pytest.raises(Killed):
            await sync.apply_batch(conn, search, after_commit=die)
        assert killed
        assert await cursor_of(db) == before  # the cursor did not move ...
        assert await found(search, "grinder") == [ids[2]]  # ... though the index committed
        repeated = await sync.apply_batch(conn, search)
    assert repeated is not None and repeated.changes == 2  # the same batch again
    assert repeated.upserted == 1 and repeated.deleted == 1
    assert ids[3] not in await found(search)
    after = await cursor_of(db)
    assert after is not None and before is not None and after > before
    async with db.connect() as conn:
        assert await sync.apply_batch(conn, search) is None  # nothing left


async def test_reconcile_repairs_missing_stale_and_extra_documents(runtime: Runtime) -> None:
    db, search = runtime.engine, runtime.search
    _, _, ids = await fill(db)
    await rebuild.rebuild(db, search)
    generation = await search.live_generation()
    assert generation is not None
    await search.delete(generation, [ids[0]])  # missing
    await search.upsert(generation, [document(ids[1], "Bogus name")])  # stale
    await search.upsert(generation, [document(999_999, "Ghost"), document(999_998, "Ghost")])
    await search.commit(generation)

    report = await sync.reconcile(db, search)
    assert (report.missing, report.stale, report.extra) == (1, 1, 2)
    assert report.checked == len(ids) and report.repaired == 4
    assert await found(search) == ids
    assert await found(search, "bogus") == []
    async with db.connect() as conn:
        truth = await load_documents(conn, ids)
    indexed = await search.digests(generation)
    assert dict(indexed) == {i: doc.digest for i, doc in truth.items()}
    again = await sync.reconcile(db, search)
    assert again.repaired == 0


async def test_a_rebuild_swaps_while_searches_answer_and_replays_changes_made_meanwhile(
    runtime: Runtime, tmp_path: Path
) -> None:
    db, search = runtime.engine, runtime.search
    _, _, ids = await fill(db, count=6)
    await settled(db)
    first = await rebuild.rebuild(db, search)
    # A reader in "another process": its own backend on the same directory.
    assert isinstance(search, TantivySearch)
    reader = TantivySearch(search.root)
    seen_during: list[list[int]] = []

    async def progress(done: int, total: int) -> None:
        if 0 < done < total:
            seen_during.append(await found(reader, "product"))
            if len(seen_during) == 1:  # a change committed mid-build, after its row was read
                await execute(
                    db, "UPDATE products SET name = 'Spirit level' WHERE id = :id", id=ids[0]
                )

    second = await rebuild.rebuild(db, search, batch_size=2, progress=progress)
    assert seen_during and all(hits == ids for hits in seen_during)  # the old one answered
    assert second.replaced == first.generation
    assert await search.generations() == [second.generation]  # the old one is dropped
    assert await search.live_generation() == second.generation
    assert await cursor_of(db) == second.start
    assert await found(reader, "spirit") == []  # the build had read that row before the change

    async with db.connect() as conn:
        replayed = await next_batch(conn, search)
    assert replayed.upserted >= 1
    assert await eventually(lambda: found(reader, "spirit"), timeout_s=5) == [ids[0]]
    await reader.close()


async def test_a_rebuild_moves_a_cursor_ahead_of_its_start_back(runtime: Runtime) -> None:
    db, search = runtime.engine, runtime.search
    _, _, ids = await fill(db)
    await settled(db)
    await rebuild.rebuild(db, search)
    start_before = await cursor_of(db)
    await execute(db, "UPDATE products SET name = 'Hammer' WHERE id = :id", id=ids[0])
    await settled(db)
    async with db.connect() as conn:
        await next_batch(conn, search)
    ahead = await cursor_of(db)
    assert ahead is not None and start_before is not None and ahead > start_before

    await settled(db)
    report = await rebuild.rebuild(db, search)
    assert report.start == ahead  # the build started after that change: nothing to replay
    assert await cursor_of(db) == ahead
    assert await found(search, "hammer") == [ids[0]]


async def test_a_full_read_of_the_catalogue_holds_no_transaction_between_pages(
    runtime: Runtime,
) -> None:
    # A rebuild or reconcile reads every product; one transaction around all of it would hold
    # back every change-log reader on the server (search, caches, events, alerts) until it ends.
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        for n in range(3):
            await add_product(conn, f"P{n}", category_id=category)
    seen = []
    async with runtime.engine.connect() as conn:
        async for page in iter_documents(conn, batch_size=1):
            assert not conn.in_transaction()
            seen.extend(d.sku for d in page)
    assert seen == ["P0", "P1", "P2"]
