"""Publishing events to a RabbitMQ topic exchange with aio-pika, each confirmed by the broker.

One connection and channel per process, opened on first use and dropped on any failure (the
next call opens new ones). Messages are persistent, carry their event id as `message_id`, and
are published one after another, each awaited until the broker confirms it: in change-log
order, and never counted as sent before the broker has it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from catalog.events.messages import Event

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class EventsUnavailable(Exception):
    """The broker could not be reached, or did not confirm a message."""


class EventPublisher:
    """The process's publisher to `exchange` (declared durable, type topic, on connect)."""

    def __init__(self, url: str, *, exchange: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self.exchange_name = exchange
        self._timeout_s = timeout_s
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        """Open the connection and declare the exchange if not done yet."""
        connection = self._connection
        if self._exchange is not None and connection is not None and not connection.is_closed:
            return
        await self.close()
        try:
            self._connection = await aio_pika.connect(self.url, timeout=self._timeout_s)
            self._channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await self._channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except Exception as exc:  # aio-pika raises OSError, AMQP and timeout errors alike
            await self.close()
            raise EventsUnavailable(f"rabbitmq: {type(exc).__name__}: {exc}") from exc

    async def publish(self, events: Sequence[Event]) -> None:
        """Publish `events` in order, each confirmed; raises `EventsUnavailable` at the first
        that is not (the ones before it were confirmed)."""
        await self.connect()
        assert self._exchange is not None
        now = datetime.now(UTC)
        for event in events:
            message = aio_pika.Message(
                event.body,
                message_id=event.id,
                type=event.type,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                timestamp=now,
                app_id="catalog",
            )
            try:
                await self._exchange.publish(
                    message, routing_key=event.type, mandatory=False, timeout=self._timeout_s
                )
            except Exception as exc:
                await self.close()
                raise EventsUnavailable(
                    f"rabbitmq: {event.id} not confirmed: {type(exc).__name__}: {exc}"
                ) from exc

    async def close(self) -> None:
        connection, self._connection, self._channel, self._exchange = (
            self._connection,
            None,
            None,
            None,
        )
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except Exception as exc:  # closing a broken connection may fail too
                log.debug("closing the RabbitMQ connection: %s", exc)
