"""What schemathesis is told that the OpenAPI document cannot say (SCHEMATHESIS_HOOKS).

A `cursor` is opaque: only a `next_cursor` the API issued is accepted, and no JSON schema can
say which strings those are. A case meant to be valid therefore leaves `cursor` out; invalid
cases keep theirs (each must get a 422), and stateful runs pass back real `next_cursor`s.
A valid price given as a JSON number is sent rounded to cents (see `map_case`).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, HookContext


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if case.query and "cursor" in case.query:
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("price"), float):
        # `multipleOf: 0.01` cannot make a binary float hold 0.07 exactly: a valid case sends
        # the price it meant, in cents.
        case.body = body | {"price": min(round(body["price"], 2), 9_999_999_999.99)}
    return case


@schemathesis.hook
def filter_failure(context: HookContext, failure: Any, case: Case, response: Any) -> bool:
    """A deleted job answers 200 in state `deleted` until pruned: that is no use after free."""
    if type(failure).__name__ != "UseAfterFree":
        return True
    if case.operation.path != "/api/backgroundjobs/jobs/{job_id}":
        return True
    try:
        return bool(response.json().get("state") != "deleted")
    except ValueError:
        return True
