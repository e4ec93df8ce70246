"""Categories: the `/api/categories` routes and their request and response shapes.

A category named in a request body that does not exist is invalid input (422); one named in
the path that does not exist is not found (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.api.cached import cached_json
from catalog.api.deps import CacheDep, RuntimeDep, SessionDep
from catalog.api.timestamps import Timestamp
from catalog.api.validation import (
    documented_errors,
    no_bad_keys,
    refuse_nulls,
    storable,
    without_null,
)
from catalog.cache.cache_aside import Cache
from catalog.domain.categories import (
    NAME_MAX,
    Category,
    CategoryId,
    CategoryNode,
    build_tree,
)
from catalog.domain.products import ID_MAX, JSON_ID_MAX
from catalog.store import categories as category_store
from catalog.store.categories import UNCHANGED
from catalog.store.category_counts import CategoryCount, category_counts

router = APIRouter(prefix="/api/categories", tags=["categories"])


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(storable),
    Field(description="Unique among its siblings, ignoring case"),
]
ParentRef = Annotated[
    StrictInt, Field(gt=0, le=JSON_ID_MAX, description="An existing category; null for a root")
]
CategoryIdPath = Annotated[int, Path(gt=0, le=ID_MAX, description="The category's id")]


class CategoryIn(BaseModel):
    """A new category; its slug is derived from its name."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    parent_id: ParentRef | None = None

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return no_bad_keys(data)


class CategoryPatch(BaseModel):
    """A new name and/or a new parent; only the fields given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=without_null("parent_id"))

    name: Name | None = None
    parent_id: ParentRef | None = Field(default=None, description="null moves it to the top")

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return no_bad_keys(data)

    @model_validator(mode="after")
    def _name_not_null(self) -> CategoryPatch:
        refuse_nulls(self, "parent_id")
        return self


class CategoryOut(BaseModel):
    id: int
    name: str
    slug: str
    parent_id: int | None
    path: list[str] = Field(description="Names from the root down to this category")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        return cls(
            id=category.id,
            name=category.name,
            slug=category.slug,
            parent_id=category.parent_id,
            path=list(category.path),
            created_at=category.created_at,
            updated_at=category.updated_at,
        )


class CategoryList(BaseModel):
    items: list[CategoryOut]


class CategoryNodeOut(BaseModel):
    id: int
    name: str
    slug: str
    parent_id: int | None
    children: list[CategoryNodeOut]

    @classmethod
    def of(cls, node: CategoryNode) -> CategoryNodeOut:
        # Bottom-up without recursion, like build_tree; MAX_DEPTH keeps the nesting shallow.
        built: dict[int, CategoryNodeOut] = {}
        order: list[CategoryNode] = []
        pending = [node]
        while pending:
            current = pending.pop()
            order.append(current)
            pending.extend(current.children)
        for current in reversed(order):
            c = current.category
            built[c.id] = cls(
                id=c.id,
                name=c.name,
                slug=c.slug,
                parent_id=c.parent_id,
                children=[built[kid.category.id] for kid in current.children],
            )
        return built[node.category.id]


class CategoryTree(BaseModel):
    items: list[CategoryNodeOut] = Field(description="The root categories, children nested")


class CategoryCountOut(BaseModel):
    category_id: int
    products: int = Field(description="Live products directly in the category")
    in_stock: int = Field(description="Of those, the ones with stock above 0")
    subtree_products: int = Field(description="Live products in it and all its subcategories")
    subtree_in_stock: int

    @classmethod
    def of(cls, count: CategoryCount) -> CategoryCountOut:
        return cls(
            category_id=count.category_id,
            products=count.products,
            in_stock=count.in_stock,
            subtree_products=count.subtree_products,
            subtree_in_stock=count.subtree_in_stock,
        )


class CategoryCounts(BaseModel):
    items: list[CategoryCountOut] = Field(description="Every category, by id")


async def tree_answer(conn: AsyncConnection) -> CategoryTree:
    """`GET /api/categories/tree`'s answer (also what cache warming stores)."""
    roots = build_tree(await category_store.list_categories(conn))
    return CategoryTree(items=[CategoryNodeOut.of(root) for root in roots])


async def counts_answer(conn: AsyncConnection) -> CategoryCounts:
    """`GET /api/categories/counts`'s answer (also what cache warming stores)."""
    found = await category_counts(conn)
    return CategoryCounts(items=[CategoryCountOut.of(count) for count in found])


_NOT_FOUND = (404, "No such category")
_UNKNOWN_PARENT = (404, "No such parent category")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a category",
    responses=documented_errors((409, "A sibling has that name"), _UNKNOWN_PARENT),
)
async def create_category(body: CategoryIn, session: SessionDep, cache: CacheDep) -> CategoryOut:
    """Create a category, at the top or under `parent_id`. Its slug is derived from its name and
    made unique with a numeric suffix (`shoes`, `shoes-2`, ...)."""
    conn = await session.connection()
    category = await category_store.create_category(
        conn,
        body.name,
        parent_id=None if body.parent_id is None else CategoryId(body.parent_id),
    )
    await session.commit()
    await _evict(cache)
    return CategoryOut.of(category)


@router.get("", summary="List categories")
async def list_categories(session: SessionDep) -> CategoryList:
    """Every category, flat, in tree order: each parent before its children, siblings by name."""
    conn = await session.connection()
    return CategoryList(
        items=[CategoryOut.of(c) for c in await category_store.list_categories(conn)]
    )


@router.get("/tree", summary="Get the category tree", response_model=CategoryTree)
async def category_tree(runtime: RuntimeDep) -> Response:
    """The root categories with their subcategories nested under `children` (cached)."""

    async def build() -> CategoryTree:
        async with runtime.sessions() as session:
            return await tree_answer(await session.connection())

    cache = runtime.cache
    return await cached_json(
        cache, cache.keys.category_tree, ttl_s=cache.ttls.category_s, build=build
    )


@router.get("/counts", summary="Count products per category", response_model=CategoryCounts)
async def counts(runtime: RuntimeDep) -> Response:
    """Live and in-stock products per category, directly and with subcategories (cached)."""

    async def build() -> CategoryCounts:
        async with runtime.sessions() as session:
            return await counts_answer(await session.connection())

    cache = runtime.cache
    return await cached_json(
        cache, cache.keys.category_counts, ttl_s=cache.ttls.category_s, build=build
    )


@router.get("/{category_id:int}", summary="Get a category", responses=documented_errors(_NOT_FOUND))
async def get_category(category_id: CategoryIdPath, session: SessionDep) -> CategoryOut:
    conn = await session.connection()
    return CategoryOut.of(await category_store.get_category(conn, CategoryId(category_id)))


@router.patch(
    "/{category_id:int}",
    summary="Rename or move a category",
    responses=documented_errors(
        _NOT_FOUND,
        (409, "A sibling has that name, or a move under itself or a descendant"),
        _UNKNOWN_PARENT,
    ),
)
async def update_category(
    category_id: CategoryIdPath, body: CategoryPatch, session: SessionDep, cache: CacheDep
) -> CategoryOut:
    """Rename the category (its slug follows) and/or move it, with everything below it, under
    `parent_id` (null: to the top). Moving it under itself or a descendant is refused (409)."""
    fields = body.model_fields_set
    conn = await session.connection()
    category = await category_store.update_category(
        conn,
        CategoryId(category_id),
        name=body.name if "name" in fields and body.name is not None else UNCHANGED,
        parent_id=(
            (None if body.parent_id is None else CategoryId(body.parent_id))
            if "parent_id" in fields
            else UNCHANGED
        ),
    )
    await session.commit()
    await _evict(cache)
    return CategoryOut.of(category)


@router.delete(
    "/{category_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a category",
    responses=documented_errors(_NOT_FOUND, (409, "Still has live products or subcategories")),
)
async def delete_category(
    category_id: CategoryIdPath, session: SessionDep, cache: CacheDep
) -> Response:
    """Delete a category that no live product and no subcategory uses (409 otherwise).
    Soft-deleted products do not hold it back."""
    conn = await session.connection()
    await category_store.delete_category(conn, CategoryId(category_id))
    await session.commit()
    await _evict(cache)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _evict(cache: Cache) -> None:
    """The writer's own eviction, so that its next read sees the change (the change-log
    invalidation follows in any case, for every process and every other writer)."""
    await cache.evict([cache.keys.category_tree, cache.keys.category_counts])
