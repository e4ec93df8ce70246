"""The smallest FastAPI endpoint that answers `GET /api/products/{id}` with given bytes.

    python bench/minimal_app.py --port 8099 --body FILE

bench/api.py runs it beside `catalog api` as the ceiling for a cached product read: the same
bytes and headers, no cache lookup, no middleware. It is served as `catalog api` serves: uvicorn
on a uvloop event loop (httptools parses HTTP), lifespan on, no access log.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import uvicorn
import uvloop
from fastapi import FastAPI, Response


def create_app(body: bytes) -> FastAPI:
    app = FastAPI()

    @app.get("/api/products/{product_id}")
    async def get_product(product_id: int) -> Response:
        return Response(body, media_type="application/json", headers={"X-Cache": "hit"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file with the bytes to send")
    args = parser.parse_args()
    config = uvicorn.Config(
        create_app(args.body.read_bytes()),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
