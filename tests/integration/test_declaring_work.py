"""A job declared exactly as docs/background-work.md says is loaded, listed, and runs.

The recipe is taken from the docs themselves and placed as a module of `catalog.jobs` (on a
directory this test adds to the package's path), with nothing else configured.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import catalog.jobs
from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work.declarations import WorkRegistry, registries_in
from tests.support.jobstate import job_runs, wait_for_status
from tests.support.settings import MakeSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "background-work.md"
MODULE_PATH = re.compile(r"src/catalog/jobs/(\w+)\.py")


def documented_recipe() -> tuple[str, str]:
    """The module name and source of the "Declaring a job" recipe in the docs."""
    section = DOCS.read_text().split("## Declaring a job", 1)[1]
    source = section.split("```python\n", 1)[1].split("```", 1)[0]
    named = MODULE_PATH.search(source)
    assert named is not None, "the recipe says where its module lives"
    return named.group(1), source


@pytest.fixture
def documented_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The recipe as a module of catalog.jobs; answers its module name."""
    name, source = documented_recipe()
    package_dir = tmp_path / "jobs"
    package_dir.mkdir()
    (package_dir / f"{name}.py").write_text(source)
    monkeypatch.setattr(catalog.jobs, "__path__", [*catalog.jobs.__path__, str(package_dir)])
    yield name
    sys.modules.pop(f"catalog.jobs.{name}", None)


@pytest.fixture
def settings(make_settings: MakeSettings, documented_job: str) -> Settings:
    return make_settings()  # no CATALOG_JOB_MODULES: the package alone brings the job


def test_every_module_of_the_package_with_a_registry_is_loaded(documented_job: str) -> None:
    registries = registries_in("catalog.jobs")
    declared = {name for registry in registries for name in registry.jobs}
    assert {"job-retention", "product-count"} <= declared
    module = sys.modules[f"catalog.jobs.{documented_job}"]
    assert isinstance(module.registry, WorkRegistry)
    assert module.registry in registries


async def test_a_job_declared_as_the_docs_say_is_listed_and_runs(
    worker: Runtime, client: httpx.AsyncClient
) -> None:
    listed = (await client.get("/api/backgroundjobs/recurring-jobs")).json()
    (job,) = [j for j in listed if j["id"] == "product-count"]
    assert (job["cron"], job["timezone"], job["enabled"]) == ("30 6 * * *", "UTC", True)
    assert job["summary"] == "How many products the catalogue holds, as of `scheduled_at`."
    assert job["next_run"] is not None

    triggered = await client.post("/api/backgroundjobs/recurring-jobs/product-count/trigger")
    assert triggered.status_code == 200, triggered.text
    job_id = triggered.json()["job_id"]
    await wait_for_status(worker, job_id, "succeeded", "failed", timeout_s=30)
    (run,) = await job_runs(worker, job_id)
    assert (run["outcome"], run["result"]) == ("succeeded", "0 products")
