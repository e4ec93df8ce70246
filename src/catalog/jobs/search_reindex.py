"""`search-reindex`: rebuild the search index from PostgreSQL and swap it in (see
`catalog.search.rebuild`); searches answer from the old generation until the swap.

Started by `POST /api/backgroundjobs/reindex` or run in the foreground by `catalog reindex`;
a second start while one waits or runs answers with that one.
"""

from __future__ import annotations

from catalog.search import rebuild
from catalog.work.context import JobContext
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import Overlap, RetryPolicy

registry = WorkRegistry()


@registry.job(
    "search-reindex",
    lock="search-reindex",
    overlap=Overlap.SKIP,
    retry=RetryPolicy(attempts=2, backoff_s=30.0),
    timeout_s=4 * 3600,
)
async def search_reindex(ctx: JobContext) -> dict[str, object]:
    """Rebuild the search index from PostgreSQL into a new generation and swap it in."""
    report = await rebuild.rebuild(
        ctx.resources.db, ctx.resources.search, progress=ctx.progress, check_stop=ctx.check_stop
    )
    await ctx.log(
        f"generation {report.generation} is live with {report.documents} documents"
        f" (replaced {report.replaced or 'nothing'})"
    )
    return {
        "generation": report.generation,
        "replaced": report.replaced,
        "documents": report.documents,
    }
