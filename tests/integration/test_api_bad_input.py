"""Bad input to the catalogue API: always a 4xx with a clear detail, never a 500, no change."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings
from catalog.store import db
from tests.support.settings import MakeSettings

TABLES = ("categories", "products", "stock_movements", "change_log")


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        db_max_overflow=1,
        max_body_bytes=100_000,
    )


async def fingerprint(runtime: Runtime) -> dict[str, str]:
    """A digest of every row of the catalogue's tables."""
    digests = {}
    async with runtime.engine.connect() as conn:
        for table in TABLES:
            digests[table] = await conn.scalar(
                sa.text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
                    f"FROM {table} t"
                )
            )
    return digests


@dataclass
class World:
    category: int
    product: int
    other_category: int


async def build_world(client: httpx.AsyncClient) -> World:
    category = (await client.post("/api/categories", json={"name": "Shoes"})).json()["id"]
    child = (
        await client.post("/api/categories", json={"name": "Boots", "parent_id": category})
    ).json()["id"]
    product = await client.post(
        "/api/products",
        json={"sku": "TAKEN", "name": "Boot", "category_id": child, "price": "10", "stock": 5},
    )
    assert product.status_code == 201
    return World(category=category, product=product.json()["id"], other_category=child)


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    json: Any = None
    raw: bytes | None = None  # sent as-is with a JSON content type
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _product(**changes: Any) -> dict[str, Any]:
    body = {"sku": "NEW-1", "name": "New", "category_id": "{category}", "price": "9.99"}
    body.update(changes)
    return body


BIG = 10**30


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


CASES = [
    # -- create a product: wrong types
    Case("price as word", "POST", "/api/products", 422, _product(price="abc")),
    Case("price as bool", "POST", "/api/products", 422, _product(price=True)),
    Case("name as number", "POST", "/api/products", 422, _product(name=5)),
    Case("tags as string", "POST", "/api/products", 422, _product(tags="a,b")),
    Case("tags of numbers", "POST", "/api/products", 422, _product(tags=[1, 2])),
    Case("attributes as list", "POST", "/api/products", 422, _product(attributes=[1])),
    Case("category as string", "POST", "/api/products", 422, _product(category_id="1")),
    Case("category as float", "POST", "/api/products", 422, _product(category_id=1.5)),
    Case("stock as string", "POST", "/api/products", 422, _product(stock="5")),
    Case("stock as fraction", "POST", "/api/products", 422, _product(stock=5.5)),
    Case("unknown status", "POST", "/api/products", 422, _product(status="sold")),
    Case("missing price", "POST", "/api/products", 422, {"sku": "A", "name": "A"}),
    Case("unknown field", "POST", "/api/products", 422, _product(colour="red")),
    Case("null name", "POST", "/api/products", 422, _product(name=None)),
    # -- create a product: values out of range
    Case("negative price", "POST", "/api/products", 422, _product(price="-0.01")),
    Case("negative stock", "POST", "/api/products", 422, _product(stock=-1)),
    Case("stock past int32", "POST", "/api/products", 422, _product(stock=2**31)),
    Case("stock huge", "POST", "/api/products", 422, _product(stock=BIG)),
    Case("three decimals", "POST", "/api/products", 422, _product(price="1.234")),
    Case("float three decimals", "POST", "/api/products", 422, _product(price=1.005)),
    Case("eleven digits", "POST", "/api/products", 422, _product(price="12345678901")),
    Case("exponent price", "POST", "/api/products", 422, _product(price="1e20")),
    Case("NaN price string", "POST", "/api/products", 422, _product(price="NaN")),
    Case("Infinity price", "POST", "/api/products", 422, _product(price="Infinity")),
    Case("empty name", "POST", "/api/products", 422, _product(name="")),
    Case("blank name", "POST", "/api/products", 422, _product(name="   ")),
    Case("long name", "POST", "/api/products", 422, _product(name="n" * 301)),
    Case("long sku", "POST", "/api/products", 422, _product(sku="s" * 65)),
    Case("long description", "POST", "/api/products", 422, _product(description="d" * 10_001)),
    Case("long brand", "POST", "/api/products", 422, _product(brand="b" * 101)),
    Case(
        "too many tags", "POST", "/api/products", 422, _product(tags=[f"t{n}" for n in range(51)])
    ),
    Case("long tag", "POST", "/api/products", 422, _product(tags=["t" * 51])),
    Case("blank tag", "POST", "/api/products", 422, _product(tags=[" "])),
    Case(
        "too many attribute keys",
        "POST",
        "/api/products",
        422,
        _product(attributes={f"k{n}": n for n in range(101)}),
    ),
    Case(
        "attributes too big", "POST", "/api/products", 422, _product(attributes={"k": "v" * 20_001})
    ),
    Case(
        "attributes too deep",
        "POST",
        "/api/products",
        422,
        _product(attributes={"a": nested(12)}),
    ),
    Case("lowercase currency", "POST", "/api/products", 422, _product(currency="usd")),
    Case("short currency", "POST", "/api/products", 422, _product(currency="US")),
    Case("long currency", "POST", "/api/products", 422, _product(currency="USDX")),
    Case("unknown category", "POST", "/api/products", 404, _product(category_id=999_999)),
    Case("category zero", "POST", "/api/products", 422, _product(category_id=0)),
    Case("category past int64", "POST", "/api/products", 422, _product(category_id=2**63)),
    Case("duplicate sku", "POST", "/api/products", 409, _product(sku="TAKEN")),
    Case("duplicate sku padded", "POST", "/api/products", 409, _product(sku="  TAKEN ")),
    # -- NUL characters and unpaired surrogates
    Case("NUL in name", "POST", "/api/products", 422, _product(name="a\u0000b")),
    Case("NUL in sku", "POST", "/api/products", 422, _product(sku="\u0000")),
    Case("NUL in description", "POST", "/api/products", 422, _product(description="x\x00")),
    Case("NUL in brand", "POST", "/api/products", 422, _product(brand="\x00")),
    Case("NUL in tag", "POST", "/api/products", 422, _product(tags=["ok", "n\x00"])),
    Case("NUL in attribute", "POST", "/api/products", 422, _product(attributes={"k": "\x00"})),
    Case("NUL in attribute key", "POST", "/api/products", 422, _product(attributes={"\x00": 1})),
    Case(
        "NUL deep in attributes",
        "POST",
        "/api/products",
        422,
        _product(attributes={"a": [{"b": ["\u0000"]}]}),
    ),
    Case("NUL in field name", "POST", "/api/products", 422, _product(**{"\x00": 1})),
    Case(
        "surrogate in name",
        "POST",
        "/api/products",
        422,
        raw=b'{"sku": "S", "name": "\\ud800", "category_id": {category}, "price": 1}',
    ),
    Case(
        "surrogate in attributes",
        "POST",
        "/api/products",
        422,
        raw=b'{"sku": "S", "name": "N", "category_id": {category}, "price": 1, '
        b'"attributes": {"\\udfff": "\\ud800"}}',
    ),
    Case(
        "surrogate as field name",
        "POST",
        "/api/products",
        422,
        raw=b'{"\\ud800": 1, "sku": "S", "name": "N", "category_id": {category}, "price": 1}',
    ),
    # -- bodies that are not what they claim
    Case(
        "NaN in attributes",
        "POST",
        "/api/products",
        422,
        raw=b'{"sku": "S", "name": "N", "category_id": {category}, "price": 1, '
        b'"attributes": {"x": NaN}}',
    ),
    Case(
        "Infinity in attributes",
        "POST",
        "/api/products",
        422,
        raw=b'{"sku": "S", "name": "N", "category_id": {category}, "price": 1, '
        b'"attributes": {"x": 1e999}}',
    ),
    Case("not JSON", "POST", "/api/products", 422, raw=b"sku=1&name=2"),
    Case("JSON array", "POST", "/api/products", 422, raw=b"[1, 2]"),
    Case("JSON string", "POST", "/api/products", 422, raw=b'"product"'),
    Case("truncated JSON", "POST", "/api/products", 422, raw=b'{"sku": "S", "na'),
    Case("empty body", "POST", "/api/products", 422, raw=b""),
    Case("deep JSON", "POST", "/api/products", 400, raw=b"[" * 50_000 + b"]" * 50_000),
    Case("huge integer", "POST", "/api/products", 400, raw=b'{"stock": ' + b"9" * 5000 + b"}"),
    Case("oversized body", "POST", "/api/products", 413, _product(description="d" * 200_000)),
    # -- change a product
    Case("patch stock", "PATCH", "/api/products/{product}", 422, {"stock": 1}),
    Case("patch negative price", "PATCH", "/api/products/{product}", 422, {"price": -1}),
    Case("patch null name", "PATCH", "/api/products/{product}", 422, {"name": None}),
    Case("patch null category", "PATCH", "/api/products/{product}", 422, {"category_id": None}),
    Case("patch null tags", "PATCH", "/api/products/{product}", 422, {"tags": None}),
    Case("patch null price", "PATCH", "/api/products/{product}", 422, {"price": None}),
    Case("patch version zero", "PATCH", "/api/products/{product}", 422, {"expected_version": 0}),
    Case("patch stale version", "PATCH", "/api/products/{product}", 409, {"expected_version": 9}),
    Case(
        "patch version past int64",
        "PATCH",
        "/api/products/{product}",
        422,
        {"name": "x", "expected_version": 2**63},
    ),
    Case("patch unknown field", "PATCH", "/api/products/{product}", 422, {"id": 5}),
    Case("patch version field", "PATCH", "/api/products/{product}", 422, {"version": 5}),
    Case("patch NUL", "PATCH", "/api/products/{product}", 422, {"attributes": {"a": "\u0000"}}),
    Case("patch unknown category", "PATCH", "/api/products/{product}", 404, {"category_id": 99}),
    Case("patch missing product", "PATCH", "/api/products/99999", 404, {"name": "x"}),
    # -- ids in paths
    *(
        Case(f"{method} product id {bad}", method, f"/api/products/{bad}", 422, body)
        for bad in ("0", "-1", "abc", "1.5", str(2**63), "99999999999999999999999", "1e3")
        for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None))
    ),
    Case("stock of id 0", "POST", "/api/products/0/stock", 422, {"delta": 1, "reason": "r"}),
    Case("movements of id abc", "GET", "/api/products/abc/stock-movements", 422),
    Case("category id 0", "GET", "/api/categories/0", 422),
    Case("category id huge", "DELETE", f"/api/categories/{2**64}", 422),
    Case("category id word", "PATCH", "/api/categories/tree", 405, {"name": "x"}),
    # -- list parameters
    *(
        Case(f"list {key}={value!r}", "GET", "/api/products", status, params={key: value})
        for key, value, status in (
            ("limit", "abc", 422),
            ("limit", "-1", 422),
            ("limit", str(BIG), 422),
            ("limit", "1000", 422),
            ("min_price", "abc", 422),
            ("min_price", "-1", 422),
            ("min_price", "NaN", 422),
            ("max_price", "1e30", 422),
            ("max_price", "0.001", 422),
            ("stock_level", "empty", 422),
            ("status", "sold", 422),
            ("sort", "-name", 422),
            ("sort", "popularity", 422),
            ("q", "a\x00b", 422),
            ("q", "", 422),
            ("q", "q" * 101, 422),
            ("brand", "\x00", 422),
            ("available", "maybe", 422),
            ("category_id", "0", 422),
            ("category_id", "abc", 422),
            ("category_id", "424242", 404),
            ("cursor", "garbage!", 422),
            ("cursor", "e30", 422),
            ("surprise", "1", 422),
        )
    ),
    Case(
        "movements cursor",
        "GET",
        "/api/products/{product}/stock-movements",
        422,
        params={"cursor": "x"},
    ),
    Case(
        "movements limit",
        "GET",
        "/api/products/{product}/stock-movements",
        422,
        params={"limit": 0},
    ),
    # -- stock
    Case(
        "stock negative", "POST", "/api/products/{product}/stock", 409, {"delta": -6, "reason": "r"}
    ),
    Case(
        "stock both",
        "POST",
        "/api/products/{product}/stock",
        422,
        {"delta": 1, "set": 2, "reason": "r"},
    ),
    Case("stock no reason", "POST", "/api/products/{product}/stock", 422, {"delta": 1}),
    Case(
        "stock long reason",
        "POST",
        "/api/products/{product}/stock",
        422,
        {"set": 1, "reason": "r" * 501},
    ),
    Case(
        "stock delta huge",
        "POST",
        "/api/products/{product}/stock",
        422,
        {"delta": BIG, "reason": "r"},
    ),
    Case(
        "stock long actor",
        "POST",
        "/api/products/{product}/stock",
        422,
        {"delta": 1, "reason": "r"},
        headers={"X-Actor": "a" * 101},
    ),
    Case(
        "stock empty actor",
        "POST",
        "/api/products/{product}/stock",
        422,
        {"delta": 1, "reason": "r"},
        headers={"X-Actor": ""},
    ),
    # -- categories
    Case("category empty name", "POST", "/api/categories", 422, {"name": ""}),
    Case("category long name", "POST", "/api/categories", 422, {"name": "c" * 201}),
    Case("category null name", "POST", "/api/categories", 422, {"name": None}),
    Case("category NUL name", "POST", "/api/categories", 422, {"name": "a\u0000"}),
    Case("category parent string", "POST", "/api/categories", 422, {"name": "X", "parent_id": "1"}),
    Case("category parent zero", "POST", "/api/categories", 422, {"name": "X", "parent_id": 0}),
    Case(
        "category parent unknown", "POST", "/api/categories", 404, {"name": "X", "parent_id": 999}
    ),
    Case("category extra field", "POST", "/api/categories", 422, {"name": "X", "slug": "x"}),
    Case("category duplicate", "POST", "/api/categories", 409, {"name": "SHOES"}),
    Case(
        "category move into itself",
        "PATCH",
        "/api/categories/{category}",
        409,
        {"parent_id": "{category}"},
    ),
    Case(
        "category move below",
        "PATCH",
        "/api/categories/{category}",
        409,
        {"parent_id": "{other_category}"},
    ),
    Case("category delete in use", "DELETE", "/api/categories/{category}", 409),
    Case("category delete with product", "DELETE", "/api/categories/{other_category}", 409),
    Case("category missing", "GET", "/api/categories/424242", 404),
]


def _fill(value: Any, world: World) -> Any:
    names = {
        "{category}": world.category,
        "{product}": world.product,
        "{other_category}": world.other_category,
    }
    if isinstance(value, str):
        if value in names:
            return names[value]
        for placeholder, real in names.items():
            value = value.replace(placeholder, str(real))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


async def send(client: httpx.AsyncClient, case: Case, world: World) -> httpx.Response:
    path = _fill(case.path, world)
    headers = dict(case.headers)
    content: bytes | None = None
    if case.raw is not None:
        content = case.raw.replace(b"{category}", str(world.other_category).encode())
        headers["content-type"] = "application/json"
    elif case.json is not None:
        content = json.dumps(_fill(case.json, world)).encode()
        headers["content-type"] = "application/json"
    return await client.request(
        case.method, path, content=content, params=case.params, headers=headers
    )


@pytest.fixture(scope="module")
def shared_database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """One database for every case of the table: each case proves it changed nothing."""
    name = f"catalog_test_{uuid.uuid4().hex[:12]}"
    admin = db.with_database(pg_server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'.encode())
    yield db.with_database(pg_server_url, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    shared_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, World]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bad-input"),
        demo_data=False,
        db_pool_size=2,
        db_max_overflow=1,
        max_body_bytes=100_000,
    )
    async with open_runtime(settings, shared_database_url) as rt:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, rt, await build_world(http)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    shared: tuple[httpx.AsyncClient, Runtime, World], case: Case
) -> None:
    client, runtime, world = shared
    before = await fingerprint(runtime)
    response = await send(client, case, world)
    assert response.status_code == case.status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert await fingerprint(runtime) == before


# -- fuzzing --------------------------------------------------------------------------------

EDGE_INTEGERS = [0, -1, 1, 2**31 - 1, 2**31, -(2**31), 2**63 - 1, 2**63, -(2**63) - 1, 10**30]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(EDGE_INTEGERS)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "\x00", "1.5", "-1", "19.99", "USD", "active", "1e400", "99999999999"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "sku", "name", "description", "category_id", "brand", "price", "currency", "stock",
    "status", "tags", "attributes", "delta", "set", "reason", "parent_id", "expected_version",
]  # fmt: skip
# A valid body per route: mutating one or two of its fields reaches deeper than noise does.
VALID = {
    ("POST", "/api/products"): {
        "sku": "FUZZ", "name": "Fuzz", "category_id": "{other_category}", "price": "1.00",
    },
    ("PATCH", "/api/products/{product}"): {"name": "Fuzzed"},
    ("POST", "/api/products/{product}/stock"): {"delta": 1, "reason": "fuzz"},
    ("POST", "/api/categories"): {"name": "Fuzz", "parent_id": "{category}"},
    ("PATCH", "/api/categories/{other_category}"): {"name": "Fuzzed"},
}  # fmt: skip
targets = st.sampled_from(sorted(VALID))
noise = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=8)
mutations = st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=2)
query_params = st.dictionaries(
    st.sampled_from(
        ["category_id", "brand", "min_price", "max_price", "stock_level", "available",
         "status", "q", "sort", "cursor", "limit"]
    ),
    st.text(max_size=12) | st.sampled_from(EDGE_INTEGERS).map(str) | st.integers().map(str),
    max_size=5,
)  # fmt: skip


AWKWARD = [
    None, True, 0, -1, 1.5, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, 10**30, 1e308,
    "", " ", "\x00", "a\x00b", "x" * 20_001, "1e400", "-0.001", "99999999999.99", "NaN",
    "USD", "active", [], [None], ["\x00"], ["x" * 51] * 51, {}, {"\x00": 1}, {"a": nested(12)},
]  # fmt: skip
FIELDS_OF = {
    ("POST", "/api/products"): [
        "sku", "name", "description", "category_id", "brand", "price", "currency", "stock",
        "status", "tags", "attributes",
    ],
    ("PATCH", "/api/products/{product}"): [
        "sku", "name", "description", "category_id", "brand", "price", "currency", "status",
        "tags", "attributes", "expected_version",
    ],
    ("POST", "/api/products/{product}/stock"): ["delta", "set", "reason"],
    ("POST", "/api/categories"): ["name", "parent_id"],
    ("PATCH", "/api/categories/{other_category}"): ["name", "parent_id"],
}  # fmt: skip


async def test_every_field_with_every_awkward_value_never_gets_a_5xx(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client)
    for target, fields in FIELDS_OF.items():
        method, path = target
        for name in fields:
            for value in AWKWARD:
                body = {**_fill(VALID[target], world), name: value}
                before = await fingerprint(runtime)
                response = await client.request(method, _fill(path, world), json=body)
                assert response.status_code < 500, (target, name, value, response.text)
                if response.status_code >= 400:
                    assert isinstance(response.json()["detail"], str)
                    assert await fingerprint(runtime) == before, (target, name, value)


LIST_PARAMETERS = [
    "category_id", "brand", "min_price", "max_price", "stock_level", "available", "status",
    "q", "sort", "cursor", "limit",
]  # fmt: skip


async def test_every_list_parameter_with_every_awkward_value_never_gets_a_5xx(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client)
    values = [v if isinstance(v, str) else json.dumps(v) for v in AWKWARD]
    for path in ("/api/products", f"/api/products/{world.product}/stock-movements"):
        for name in LIST_PARAMETERS:
            for value in values:
                response = await client.get(path, params={name: value})
                assert response.status_code < 500, (path, name, value, response.text)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    # Hypothesis drives a synchronous function; it runs each example on this loop.
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture
def fuzz_client(
    settings: Settings, database_url: str, loop: asyncio.AbstractEventLoop
) -> Iterator[tuple[httpx.AsyncClient, Runtime, World]]:
    async def open_all() -> tuple[Any, httpx.AsyncClient, Runtime, World]:
        context = open_runtime(settings, database_url)
        rt = await context.__aenter__()
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://t"
        )
        return context, http, rt, await build_world(http)

    context, http, rt, world = loop.run_until_complete(open_all())
    yield http, rt, world
    loop.run_until_complete(http.aclose())
    loop.run_until_complete(context.__aexit__(None, None, None))


def test_fuzzed_bodies_and_queries_never_get_a_5xx(
    fuzz_client: tuple[httpx.AsyncClient, Runtime, World], loop: asyncio.AbstractEventLoop
) -> None:
    client, runtime, world = fuzz_client

    async def check(target: tuple[str, str], body: dict[str, Any], params: dict[str, str]) -> None:
        before = await fingerprint(runtime)
        method, path = target
        response = await client.request(method, _fill(path, world), json=_fill(body, world))
        assert response.status_code < 500, (target, body, response.text)
        if response.status_code >= 400:
            assert isinstance(response.json()["detail"], str)
            assert await fingerprint(runtime) == before, (target, body)
        listing = await client.get("/api/products", params=params)
        assert listing.status_code < 500, (params, listing.text)

    @hypothesis_settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        target=targets,
        mutated=st.booleans(),
        changes=st.one_of(noise, mutations),
        params=query_params,
    )
    def run(
        target: tuple[str, str], mutated: bool, changes: dict[str, Any], params: dict[str, str]
    ) -> None:
        body = {**VALID[target], **changes} if mutated else changes
        loop.run_until_complete(check(target, body, params))

    run()
