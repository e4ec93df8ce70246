"""Every API answer gives timestamps in ISO 8601, in UTC, with an explicit +00:00 offset."""

from __future__ import annotations

import re
from typing import Any

import httpx

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
STAMP_KEYS = re.compile(r"(_at|_since|^last_run|^next_run|^last_success|^slot|^minute)$")


def stamps(value: Any, key: str = "") -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in stamps(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in stamps(v, key)]
    return [value] if isinstance(value, str) and STAMP_KEYS.search(key) else []


async def test_timestamps_have_an_explicit_utc_offset_everywhere(
    client: httpx.AsyncClient,
) -> None:
    category = (await client.post("/api/categories", json={"name": "Tools"})).json()
    product = (
        await client.post(
            "/api/products",
            json={"sku": "T-1", "name": "Hammer", "category_id": category["id"], "price": "9.5"},
        )
    ).json()
    await client.post(f"/api/products/{product['id']}/stock", json={"delta": 3, "reason": "count"})
    job = (await client.post("/api/backgroundjobs/jobs", json={"task": "job-retention"})).json()
    answers = [
        category,
        product,
        (await client.get(f"/api/products/{product['id']}/stock-movements")).json(),
        job,
        (await client.get(f"/api/backgroundjobs/jobs/{job['job_id']}")).json(),
        (await client.get("/api/backgroundjobs/recurring-jobs")).json(),
        (await client.get("/api/backgroundjobs/stats")).json(),
    ]
    found = [s for answer in answers for s in stamps(answer)]
    assert len(found) >= 10
    assert [s for s in found if not STAMP.match(s)] == []
