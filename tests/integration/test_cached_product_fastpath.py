"""The fast path for cached `GET /api/products/{id}`: it answers hits exactly as the route does
(bytes, headers, request id, metrics), and steps aside to FastAPI for everything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from catalog.api.app import create_app
from catalog.api.fastpath import CachedProductReads, plain_product_id, product_route
from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.domain.products import ID_MAX
from tests.integration.test_cache_reads import client_of, make_category, make_product
from tests.support.access import LOCAL, REMOTE, bearer, client_from, create_key
from tests.support.settings import MakeSettings

Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


async def cached_product(http: httpx.AsyncClient) -> str:
    """A new product's path, read once so that its answer is cached."""
    shoes = await make_category(http, "Shoes")
    product = await make_product(http, sku="S1", name="Boot", category_id=shoes, price="9.5")
    path = f"/api/products/{product['id']}"
    first = await http.get(path)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss", first.text
    return path


def unplain(path: str) -> str:
    """The same product's path with its id written `007`: FastAPI reads the same id, the fast
    path steps aside, so the route itself answers."""
    head, _, product_id = path.rpartition("/")
    return f"{head}/0{product_id}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("1234567", 1234567),
        (str(ID_MAX), ID_MAX),
        (str(ID_MAX + 1), None),
        ("0", None),
        ("007", None),
        ("+7", None),
        ("-7", None),
        (" 7", None),
        ("7 ", None),
        ("1_000", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: a digit, not ASCII
        ("", None),
        ("7/stock", None),
        ("7.0", None),
    ],
)
def test_only_plainly_written_ids_are_taken(text: str, expected: int | None) -> None:
    assert plain_product_id(f"/api/products/{text}") == expected
    assert plain_product_id(f"/api/categories/{text}") is None


async def test_a_hit_is_answered_as_the_route_answers_it(client: httpx.AsyncClient) -> None:
    path = await cached_product(client)
    same = {"X-Request-ID": "req-fast-1"}
    fast = await client.get(path, headers=same)
    routed = await client.get(unplain(path), headers=same)
    assert fast.status_code == routed.status_code == 200
    assert fast.headers["x-cache"] == routed.headers["x-cache"] == "hit"
    assert fast.content == routed.content
    assert list(fast.headers.multi_items()) == list(routed.headers.multi_items())
    assert fast.headers["x-request-id"] == "req-fast-1"
    assert fast.headers["content-type"] == "application/json"
    fresh = await client.get(path)
    assert len(fresh.headers["x-request-id"]) == 32  # a new one when none is given


async def test_a_redis_hit_is_answered_as_the_route_answers_it(
    make_settings: MakeSettings, database_url: str, redis_url: str, cache_prefix: str
) -> None:
    settings = make_settings(redis_url=redis_url, cache_prefix=cache_prefix)
    async with open_runtime(settings, database_url) as rt, client_of(rt) as http:
        try:
            assert rt.cache.shared
            path = await cached_product(http)
            same = {"X-Request-ID": "req-redis-1"}
            fast = await http.get(path, headers=same)
            routed = await http.get(unplain(path), headers=same)
            assert fast.headers["x-cache"] == "hit" and fast.content == routed.content
            assert list(fast.headers.multi_items()) == list(routed.headers.multi_items())
        finally:
            await rt.cache.clear()


async def test_hits_are_counted_under_the_route_template(runtime: Runtime) -> None:
    async with client_from(runtime) as http:
        path = await cached_product(http)
        for _ in range(3):
            assert (await http.get(path)).headers["x-cache"] == "hit"
        text = (await http.get("/metrics")).text
    counts = {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "catalog_http_requests_total"
    }
    labels = {("method", "GET"), ("route", "/api/products/{product_id}"), ("status", "200")}
    assert counts[frozenset(labels)] == 4  # the miss and three hits
    assert not any(("route", path) in key for key in counts)


async def test_reads_needing_a_key_refuse_an_anonymous_read_of_a_cached_product(
    make_settings: MakeSettings, database_url: str
) -> None:
    settings = make_settings(catalogue_reads_need_key=True)
    async with (
        open_runtime(settings, database_url) as rt,
        client_from(rt, LOCAL) as local,
        client_from(rt, REMOTE) as remote,
    ):
        path = await cached_product(local)  # cached while no key exists: reads are open
        viewer = bearer(await create_key(rt, "viewer"))
        assert (await local.get(path, headers=viewer)).headers["x-cache"] == "hit"
        for http in (local, remote):
            for headers in ({}, {"Authorization": "Bearer not-a-key"}):
                refused = await http.get(path, headers=headers)
                assert refused.status_code == 401, refused.text
                assert "x-cache" not in refused.headers
                assert refused.headers["www-authenticate"] == "Bearer"
                assert refused.headers["x-request-id"]
            malformed = await http.get(path, headers={"Authorization": "Basic abc"})
            assert malformed.status_code == 401
            read = await http.get(path, headers=viewer)
            assert read.status_code == 200 and read.headers["x-cache"] == "hit"


async def test_a_get_with_a_duplicate_key_json_body_is_still_refused(
    client: httpx.AsyncClient,
) -> None:
    path = await cached_product(client)
    response = await client.request(
        "GET",
        path,
        content=b'{"a": 1, "a": 2}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and "appears twice" in response.json()["detail"]


def recording(app: Asgi, calls: list[str]) -> Asgi:
    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(f"{scope['method']} {scope['path']}")
        await app(scope, receive, send)

    return recorder


async def test_only_hits_of_plain_gets_skip_the_rest_of_the_app(runtime: Runtime) -> None:
    app = create_app(runtime)
    assert app.user_middleware[-1].cls is CachedProductReads  # innermost
    normal = create_app(runtime)  # the same app without its fast path, behind ours
    normal.user_middleware = [m for m in normal.user_middleware if m.cls is not CachedProductReads]
    calls: list[str] = []
    fast = CachedProductReads(
        recording(normal, calls), runtime=runtime, route=product_route(app.routes)
    )
    transport = httpx.ASGITransport(app=fast)
    async with (
        client_from(runtime) as http,
        httpx.AsyncClient(transport=transport, base_url="http://test") as direct,
    ):
        path = await cached_product(http)
        for target in (path, path + "?fields=ignored"):  # the route ignores unknown parameters
            hit = await direct.get(target)
            assert hit.status_code == 200 and hit.headers["x-cache"] == "hit", hit.text
        assert calls == []
        passed = [
            ("GET", unplain(path), 200),
            ("HEAD", path, 405),  # FastAPI answers GET routes only to GET
            ("GET", "/api/products/999999", 404),  # a miss: the route answers, never cached
            ("GET", "/api/products/999999", 404),
            ("GET", "/api/products/0", 422),
            ("GET", path + "/", 307),  # redirected to the path without the slash
        ]
        for method, target, status in passed:
            response = await direct.request(method, target)
            assert response.status_code == status, (method, target, response.text)
            if status == 404:
                assert "x-cache" not in response.headers
        assert calls == [f"{method} {target}" for method, target, _ in passed]
