"""Events: what changed in the catalogue, published to RabbitMQ from the change log.

messages   one change-log row becomes one or two events (pure)
publisher  `EventPublisher`: aio-pika, a topic exchange, persistent messages, confirms
relay      the `event-relay` step: read, publish, confirm, then advance the cursor
"""
