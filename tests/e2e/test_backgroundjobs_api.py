"""The jobs management API over HTTP, with a worker running in process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from tests.support.polling import eventually
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=4,
        job_modules=["tests.support.jobs:registry"],
    )


async def enqueue(client: httpx.AsyncClient, task: str, **body: Any) -> int:
    response = await client.post("/api/backgroundjobs/jobs", json={"task": task, **body})
    assert response.status_code == 201, response.text
    job_id: int = response.json()["job_id"]
    return job_id


async def wait_state(
    client: httpx.AsyncClient, job_id: int, *states: str, timeout_s: float = 20
) -> dict[str, Any]:
    async def in_state() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/backgroundjobs/jobs/{job_id}")).json()
        return body if body["state"] in states else None

    found: dict[str, Any] = await eventually(
        in_state, timeout_s=timeout_s, what=f"job {job_id} in {states}"
    )
    return found


async def test_job_detail_shows_runs_logs_progress_and_timing(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-sleep", args={"seconds": 0.4, "steps": 4})
    body = await wait_state(client, job_id, "succeeded")
    assert body["task"] == "test-sleep"
    assert body["args"] == {"seconds": 0.4, "steps": 4}
    assert body["attempts"] == 1
    assert body["duration_s"] >= 0.3
    assert datetime.fromisoformat(body["finished_at"]).utcoffset().total_seconds() == 0
    assert [line["message"] for line in body["logs"]] == [f"step {n} of 4" for n in range(1, 5)]
    assert body["progress"]["done"] == 4 and body["progress"]["total"] == 4
    (run,) = body["runs"]
    assert run["outcome"] == "succeeded" and run["result"] == "slept"
    assert body["error"] is None


async def test_logs_are_readable_while_the_job_runs(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-sleep", args={"seconds": 3, "steps": 3})
    await wait_state(client, job_id, "processing")

    async def with_logs() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/backgroundjobs/jobs/{job_id}")).json()
        return body if body["logs"] else None

    body = await eventually(with_logs, timeout_s=5, what="a first log line")
    assert body["state"] == "processing"
    assert body["logs"][0]["message"] == "step 1 of 3"
    assert body["started_at"] is not None and body["finished_at"] is None
    await client.post(f"/api/backgroundjobs/jobs/{job_id}/cancel")


async def test_a_failed_job_shows_its_error_and_can_be_retried(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-picky", args={"error": "value"})
    body = await wait_state(client, job_id, "failed")
    assert body["error"] == "ValueError: bad input"
    assert "Traceback" in body["runs"][0]["traceback"]

    retried = await client.post(f"/api/backgroundjobs/jobs/{job_id}/retry")
    assert retried.status_code == 200
    assert retried.json()["state"] in {"enqueued", "processing", "failed"}
    body = await wait_state(client, job_id, "failed")
    assert len(body["runs"]) == 2


async def test_retrying_a_running_job_is_refused_with_409(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-sleep", args={"seconds": 5})
    await wait_state(client, job_id, "processing")
    response = await client.post(f"/api/backgroundjobs/jobs/{job_id}/retry")
    assert response.status_code == 409
    assert "processing" in response.json()["detail"]
    await client.post(f"/api/backgroundjobs/jobs/{job_id}/cancel")


async def test_cancel_stops_a_running_job(client: httpx.AsyncClient, worker: Runtime) -> None:
    job_id = await enqueue(client, "test-sleep", args={"seconds": 30, "steps": 300})
    await wait_state(client, job_id, "processing")
    response = await client.post(f"/api/backgroundjobs/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert response.json()["cancel_requested"] is True
    body = await wait_state(client, job_id, "cancelled", timeout_s=10)
    assert body["runs"][-1]["outcome"] == "cancelled"
    # Nothing left to cancel now.
    assert (await client.post(f"/api/backgroundjobs/jobs/{job_id}/cancel")).status_code == 409


async def test_a_delayed_job_waits_as_scheduled_and_can_be_cancelled(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-noop", delay_s=3600)
    body = (await client.get(f"/api/backgroundjobs/jobs/{job_id}")).json()
    assert body["state"] == "scheduled"
    listed = (await client.get("/api/backgroundjobs/jobs?state=scheduled")).json()
    assert [job["id"] for job in listed["items"]] == [job_id]

    cancelled = await client.post(f"/api/backgroundjobs/jobs/{job_id}/cancel")
    assert cancelled.json()["state"] == "cancelled"


async def test_delete_marks_the_job_deleted_and_lists_it_so(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-noop")
    await wait_state(client, job_id, "succeeded")
    response = await client.delete(f"/api/backgroundjobs/jobs/{job_id}")
    assert response.status_code == 200 and response.json()["state"] == "deleted"
    listed = (await client.get("/api/backgroundjobs/jobs?state=deleted")).json()
    assert [job["id"] for job in listed["items"]] == [job_id]
    succeeded = (await client.get("/api/backgroundjobs/jobs?state=succeeded")).json()
    assert succeeded["items"] == []


async def test_a_skip_overlap_job_is_not_enqueued_twice(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    first = await enqueue(client, "test-skip", args={"seconds": 2})
    await wait_state(client, first, "processing")
    response = await client.post(
        "/api/backgroundjobs/jobs", json={"task": "test-skip", "args": {"seconds": 2}}
    )
    assert response.json()["skipped"] is True
    assert response.json()["job_id"] == first


async def test_jobs_are_listed_by_keyset_pages_and_filters(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ids = [await enqueue(client, "test-echo", args={"value": n}) for n in range(7)]
    other = await enqueue(client, "test-noop")
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"task": "test-echo", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/backgroundjobs/jobs", params=params)).json()
        seen += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    enqueued = (await client.get("/api/backgroundjobs/jobs?state=enqueued&limit=200")).json()
    assert {job["id"] for job in enqueued["items"]} == {*ids, other}
    by_queue = (await client.get("/api/backgroundjobs/jobs?queue=nope")).json()
    assert by_queue["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/backgroundjobs/jobs/999999", None, 404),
        ("post", "/api/backgroundjobs/jobs/999999/retry", None, 404),
        ("post", "/api/backgroundjobs/jobs/999999/cancel", None, 404),
        ("delete", "/api/backgroundjobs/jobs/999999", None, 404),
        ("get", "/api/backgroundjobs/jobs/0", None, 422),
        ("get", "/api/backgroundjobs/jobs/abc", None, 422),
        ("get", "/api/backgroundjobs/jobs?state=running", None, 422),
        ("get", "/api/backgroundjobs/jobs?cursor=zzz", None, 422),
        ("get", "/api/backgroundjobs/jobs?limit=100000", None, 422),
        ("post", "/api/backgroundjobs/jobs", {"task": "no-such-job"}, 404),
        ("post", "/api/backgroundjobs/jobs", {"task": "test-noop", "bogus": 1}, 422),
        ("post", "/api/backgroundjobs/jobs", {"task": "test-noop", "args": []}, 422),
        ("post", "/api/backgroundjobs/jobs", {"task": "test-noop", "delay_s": -1}, 422),
        (
            "post",
            "/api/backgroundjobs/jobs",
            {"task": "test-noop", "run_at": "2030-01-01T00:00:00"},
            422,
        ),
    ],
)
async def test_bad_requests_get_clear_4xx_answers(
    client: httpx.AsyncClient, method: str, path: str, body: Any, status: int
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


async def test_stats_count_states_and_throughput(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    ok = [await enqueue(client, "test-noop") for _ in range(3)]
    bad = await enqueue(client, "test-picky", args={"error": "value"})
    for job_id in ok:
        await wait_state(client, job_id, "succeeded")
    await wait_state(client, bad, "failed")
    stats = (await client.get("/api/backgroundjobs/stats")).json()
    assert stats["counts"]["succeeded"] == 3
    assert stats["counts"]["failed"] == 1
    assert len(stats["throughput"]) == 60
    assert stats["throughput"][-1]["succeeded"] + stats["throughput"][-2]["succeeded"] >= 3
    assert stats["workers"] == 1


async def test_workers_are_listed_with_heartbeats(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    async def listed_workers() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await client.get("/api/backgroundjobs/workers")).json()
        return found

    (listed,) = await eventually(listed_workers, timeout_s=5, what="a listed worker")
    assert listed["concurrency"] == 4
    assert listed["name"].endswith(f":{listed['pid']}")
    assert listed["heartbeat_age_s"] < 30


async def test_tasks_are_listed_with_their_policies(client: httpx.AsyncClient) -> None:
    tasks = {t["name"]: t for t in (await client.get("/api/backgroundjobs/tasks")).json()}
    assert tasks["test-timeout"]["policy"]["timeout_s"] == 0.5
    assert tasks["test-flaky"]["policy"]["attempts"] == 3
    assert tasks["job-retention"]["schedule"] == "17 * * * * (UTC)"


async def test_a_deleted_job_still_stopping_cannot_be_retried_until_it_has_stopped(
    client: httpx.AsyncClient, worker: Runtime
) -> None:
    job_id = await enqueue(client, "test-stubborn", args={"seconds": 3})
    await wait_state(client, job_id, "processing")
    await client.delete(f"/api/backgroundjobs/jobs/{job_id}")
    # Stopping takes until the worker hears of it and cancels the run.
    response = await client.post(f"/api/backgroundjobs/jobs/{job_id}/retry")
    assert response.status_code == 409, response.text
    assert "still doing" in response.json()["detail"]
    body = (await client.get(f"/api/backgroundjobs/jobs/{job_id}")).json()
    assert body["state"] == "deleted"


async def test_the_document_says_what_the_jobs_routes_answer(client: httpx.AsyncClient) -> None:
    """What the OpenAPI fuzz test found: 404 and 409 answered but not documented, and a
    deleted job readable after its DELETE (on purpose, now said in the job's schema)."""
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert "404" in paths["/api/backgroundjobs/jobs"]["post"]["responses"]  # unknown task
    for method in ("get", "delete"):
        assert "404" in paths["/api/backgroundjobs/jobs/{job_id}"][method]["responses"]
    for action in ("retry", "cancel"):
        responses = paths[f"/api/backgroundjobs/jobs/{{job_id}}/{action}"]["post"]["responses"]
        assert {"404", "409"} <= set(responses)
    job = document["components"]["schemas"]["JobOut"]
    assert "deleted" in job["description"]
    assert "deleted" in job["properties"]["state"]["description"]
    enqueue = document["components"]["schemas"]["EnqueueIn"]
    assert enqueue["not"] == {"required": ["delay_s", "run_at"]}
    assert enqueue["properties"]["run_at"]["type"] == "string"  # not nullable
