"""Search documents: their JSON and digest, which stored indexes and reconcile depend on."""

from __future__ import annotations

import json
from dataclasses import fields

from catalog.search.documents import ProductDocument
from tests.support.search import document

# The digest and JSON of `_kettle()` as every index built so far holds them: were they to
# change, reconcile would find every stored document stale and rewrite the whole index.
KETTLE_DIGEST = 6515646562886648423
KETTLE_JSON = (
    '{"brand":"Acme","category_id":12,"category_ids":[3,12],'
    '"category_names":["Category 3","Category 12"],"created_at":"2026-01-01T07:00:00+00:00",'
    '"currency":"USD","description":"A kettle","id":7,"name":"Blue kettle","popularity":1.25,'
    '"price":"25.50","sku":"SKU-00007","status":"active","stock":4,"stock_level":"critical",'
    '"tags":["new","sale"],"updated_at":"2026-01-01T07:00:00+00:00"}'
)


def _kettle() -> ProductDocument:
    return document(
        7,
        "Blue kettle",
        description="A kettle",
        category_ids=(3, 12),
        tags=("new", "sale"),
        stock=4,
        price="25.5",
        popularity=1.25,
    )


def test_json_and_digest_are_stable() -> None:
    kettle = _kettle()
    assert kettle.to_json() == KETTLE_JSON
    assert kettle.digest == KETTLE_DIGEST


def test_source_holds_every_field_as_json_values() -> None:
    source = _kettle().to_source()
    assert set(source) == {f.name for f in fields(ProductDocument)}
    assert json.loads(json.dumps(source)) == source  # lists and strings, nothing else


def test_source_is_a_fresh_copy_each_time() -> None:
    kettle = _kettle()
    first = kettle.to_source()
    tags = first["tags"]
    assert isinstance(tags, list)
    tags.append("changed")
    assert kettle.to_source()["tags"] == ["new", "sale"]


def test_json_is_built_once_per_document() -> None:
    # The digest and the stored source both need it; a rebuild writes millions of documents.
    kettle = _kettle()
    assert kettle.to_json() is kettle.to_json()
    assert kettle.digest == KETTLE_DIGEST


def test_equal_documents_are_equal_whatever_was_computed() -> None:
    computed = _kettle()
    computed.to_json()
    assert computed == _kettle()
    assert hash(computed) == hash(_kettle())
