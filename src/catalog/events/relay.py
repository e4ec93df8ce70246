"""The relay's step: publish committed changes in change-log order, then advance the cursor.

At least once: the cursor moves only past rows whose every event the broker confirmed, so a
step that fails or is killed repeats at most its last unconfirmed batch (same event ids).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.events.messages import events_of
from catalog.events.publisher import EventPublisher
from catalog.store import changelog

CONSUMER = "event-relay"
BATCH_SIZE = 200  # change-log rows published (and confirmed) per cursor save


async def relay(
    db: AsyncEngine, publisher: EventPublisher, *, should_stop: Callable[[], bool]
) -> int:
    """Publish everything committed since the cursor; the number of events published.

    Registers the consumer at the end of the log on its first run: the relay publishes what
    changes from then on (the change log itself is the record of what came before).
    """
    published = 0
    async with db.connect() as conn:
        async with conn.begin():
            cursor = await changelog.load_cursor(conn, CONSUMER, start_at_end=True)
        await publisher.connect()  # fail here while the broker is down, even with nothing new
        while not should_stop():
            async with conn.begin():
                changes = await changelog.read_changes(conn, after=cursor, limit=BATCH_SIZE)
            if not changes:
                break
            events = [event for change in changes for event in events_of(change)]
            await publisher.publish(events)
            cursor = changelog.advance(cursor, changes)
            async with conn.begin():
                await changelog.save_cursor(conn, CONSUMER, cursor)
            published += len(events)
    return published
