"""Sending inventory alerts out: a structured log line, an HTTP webhook, an e-mail.

The log line is written where the alert is raised, always. The webhook and the e-mail are each
sent by a `send-alert` job (catalog.jobs.inventory_monitoring), so that the engine retries them
when the receiver is down; a failed send raises for the retry policy to see.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from typing import Any

import httpx

from catalog.store.alerts import Alert

log = logging.getLogger("catalog.inventory.alerts")

WEBHOOK_TIMEOUT_S = 10.0
SMTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AlertMessage:
    """An alert with what a person needs to act on it."""

    alert: Alert
    sku: str
    name: str

    def payload(self) -> dict[str, Any]:
        a = self.alert
        return {
            "event": "inventory.alert",
            "alert_id": a.id,
            "kind": a.kind,
            "product_id": a.product_id,
            "sku": self.sku,
            "name": self.name,
            "level": str(a.level),
            "previous_level": str(a.previous_level) if a.previous_level else None,
            "stock": a.stock,
            "stockout_on": a.stockout_on.isoformat() if a.stockout_on else None,
            "raised_at": a.raised_at.astimezone(UTC).isoformat(),
        }

    def subject(self) -> str:
        a = self.alert
        if a.kind == "forecast":
            return f"[catalog] {self.sku} predicted out of stock on {a.stockout_on}"
        return f"[catalog] {self.sku} is {str(a.level).replace('_', ' ')} (stock {a.stock})"


def log_alert(alert: Alert) -> None:
    """The structured log line every raised alert gets: its fields under `alert`."""
    fields = {
        "id": alert.id,
        "kind": alert.kind,
        "product_id": alert.product_id,
        "level": str(alert.level),
        "previous_level": str(alert.previous_level) if alert.previous_level else None,
        "stock": alert.stock,
        "stockout_on": alert.stockout_on.isoformat() if alert.stockout_on else None,
    }
    log.warning(
        "inventory alert: product %s is %s (stock %s)",
        alert.product_id,
        "predicted to run out" if alert.kind == "forecast" else fields["level"],
        alert.stock,
        extra={"alert": fields},
    )


async def post_webhook(url: str, message: AlertMessage) -> int:
    """POST the alert as JSON; the receiver's status code. Raises on a non-2xx answer."""
    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as http:
        answer = await http.post(url, json=message.payload())
        answer.raise_for_status()
        return answer.status_code


async def send_email(
    message: AlertMessage, *, host: str, port: int, sender: str, recipients: list[str]
) -> None:
    """Send the alert by SMTP (in a thread: smtplib blocks)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Subject"] = message.subject()
    email.set_content(json.dumps(message.payload(), indent=2))

    def send() -> None:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S) as smtp:
            smtp.send_message(email)

    await asyncio.to_thread(send)
