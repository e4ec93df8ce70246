"""The dashboard in Debian's Chromium, driven by Playwright: what an operator does with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from catalog.bootstrap import Runtime
from tests.browser.conftest import CHROMIUM_ARGS
from tests.support.access import bearer, create_key

pytestmark = pytest.mark.slow
SCHEDULE = "job-retention"
# A busy machine (the whole suite on two cores) can take a while; waits end at the state.
expect.set_options(timeout=30_000)


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def log_in(browser: Browser, base_url: str, secret: str) -> Page:
    page = await (await browser.new_context(base_url=base_url)).new_page()
    page.set_default_timeout(20_000)
    await page.goto("/dashboard")
    await expect(page).to_have_url(f"{base_url}/dashboard/login")
    await page.fill("input[name=key]", secret)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base_url}/dashboard")
    return page


async def enqueue(base_url: str, secret: str, task: str, args: dict[str, object]) -> int:
    async with httpx.AsyncClient(base_url=base_url, headers=bearer(secret)) as http:
        answer = await http.post("/api/backgroundjobs/jobs", json={"task": task, "args": args})
        assert answer.status_code == 201, answer.text
        job_id: int = answer.json()["job_id"]
        return job_id


async def test_an_operator_steers_the_work_from_the_dashboard(
    worker: Runtime, base_url: str, browser: Browser, artifacts: Path
) -> None:
    admin = await create_key(worker, "admin")
    page = await log_in(browser, base_url, admin)
    await expect(page.locator("#live-counts")).to_be_visible()
    await page.screenshot(path=artifacts / "overview.png", full_page=True)

    # Recurring jobs and services are listed.
    await page.goto("/dashboard/recurring")
    row = page.locator(f"#schedule-{SCHEDULE}")
    await expect(row).to_contain_text("past the hour (UTC)")
    await page.screenshot(path=artifacts / "recurring.png", full_page=True)
    await page.goto("/dashboard/services")
    await expect(page.locator("h1")).to_have_text("Background services")
    await page.screenshot(path=artifacts / "services.png", full_page=True)
    await page.goto("/dashboard/workers")
    await expect(page.locator("#workers")).to_contain_text(str(worker.settings.worker_concurrency))
    await page.screenshot(path=artifacts / "workers.png", full_page=True)

    # Trigger a recurring job and watch it succeed, live, on its page.
    await page.goto("/dashboard/recurring")
    await row.locator("button.trigger").click()
    await expect(row.locator("a[href^='/dashboard/jobs/']")).to_be_visible()
    await row.locator("a[href^='/dashboard/jobs/']").click()
    await expect(page.locator("#job-state")).to_have_text("succeeded")
    await expect(page.locator("#runs")).to_contain_text("succeeded")

    # A job that logs: its log lines, progress and journal update while we watch.
    job_id = await enqueue(base_url, admin, "test-sleep", {"seconds": 3, "steps": 6})
    await page.goto(f"/dashboard/jobs/{job_id}")
    await expect(page.locator("#logs")).to_contain_text("step 1 of 6")
    await expect(page.locator("#job-state")).to_have_text("succeeded")
    await expect(page.locator("#logs")).to_contain_text("step 6 of 6")
    await expect(page.locator("#runs")).to_contain_text("slept")
    await page.screenshot(path=artifacts / "job-detail.png", full_page=True)

    # Pause and resume a schedule.
    await page.goto("/dashboard/recurring")
    await row.locator("button.pause").click()
    await expect(row).to_contain_text("paused")
    await page.screenshot(path=artifacts / "recurring-paused.png", full_page=True)
    await row.locator("button.resume").click()
    await expect(row.locator("button.pause")).to_be_visible()

    # A bad cron: the preview says why as it is typed, and saving refuses it.
    await page.goto(f"/dashboard/recurring/{SCHEDULE}")
    await page.fill("input[name=cron]", "61 * * * *")
    await expect(page.locator("#preview-error")).to_be_visible()
    await page.click("#save")
    await expect(page.locator("#error")).to_contain_text("61")
    await page.screenshot(path=artifacts / "bad-cron.png", full_page=True)
    await page.fill("input[name=cron]", "0 8 * * 1")
    await expect(page.locator("#preview li")).to_have_count(5)

    # Retry a failed job: its journal gains a second run.
    failed = await enqueue(base_url, admin, "test-picky", {"error": "value"})
    await page.goto(f"/dashboard/jobs/{failed}")
    await expect(page.locator("#job-state")).to_have_text("failed")
    await page.click("#retry")
    await expect(page.locator("#runs tbody tr")).to_have_count(2)
    await expect(page.locator("#job-state")).to_have_text("failed")
    await page.screenshot(path=artifacts / "job-retried.png", full_page=True)

    await page.goto("/dashboard/jobs?state=failed")
    await expect(page.locator("#jobs")).to_contain_text("test-picky")
    await page.screenshot(path=artifacts / "jobs-failed.png", full_page=True)


async def test_a_viewer_finds_no_action_buttons(
    worker: Runtime, base_url: str, browser: Browser, artifacts: Path
) -> None:
    viewer = await create_key(worker, "viewer")
    admin = await create_key(worker, "admin")
    job_id = await enqueue(base_url, admin, "test-picky", {"error": "value"})
    page = await log_in(browser, base_url, viewer)
    for path in ("/dashboard/recurring", f"/dashboard/jobs/{job_id}", "/dashboard/jobs",
                 f"/dashboard/recurring/{SCHEDULE}"):  # fmt: skip
        await page.goto(path)
        await expect(page.locator("main h1")).to_be_visible()
        # Only the jobs filter (a GET form) has a button; no form posts anything.
        await expect(page.locator("main form[method=post]")).to_have_count(0)
        await expect(page.locator("main button:not(.filters button)")).to_have_count(0)
        await expect(page.locator("header button")).to_have_text("Log out")
    await page.screenshot(path=artifacts / "viewer-job.png", full_page=True)
