"""Access scopes: which root field needs which scope, ACCESS_DENIED errors, currentAppInstallation.

A root field whose scope the shop has not granted resolves to null with Shopify's error::

    {"message": "Access denied for themes field. Required access: `read_themes` access scope.",
     "locations": [...], "path": ["themes"],
     "extensions": {"code": "ACCESS_DENIED", "documentation": ACCESS_DOCS,
                    "requiredAccess": "`read_themes` access scope."}}

The other root fields of the query still resolve. ``write_X`` implies ``read_X``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

if TYPE_CHECKING:
    from tests.fakeshopify.resolvers import Resolver
    from tests.fakeshopify.store import FakeShop

ACCESS_DOCS = "https://shopify.dev/api/usage/access-scopes"
DEFAULT_SCOPES = ("read_products", "read_content", "read_themes", "read_files", "read_discounts")
_BY_SCOPE = {
    "read_products": ("products", "product", "productsCount", "collections", "collection",
                      "collectionsCount", "deletionEvents"),
    "read_content": ("blogs", "blog", "blogsCount", "articles", "article", "articlesCount"),
    "read_themes": ("themes", "theme"),
    "read_files": ("files", "filesCount"),
    "read_discounts": ("discountNodes", "discountNode", "discountNodesCount"),
}  # fmt: skip
#: QueryRoot field -> the scope it needs (fields not listed need none).
FIELD_SCOPES = {field: scope for scope, names in _BY_SCOPE.items() for field in names}
DESCRIPTIONS = {
    "read_products": "Read products, variants and collections",
    "read_content": "Read blog posts, comments, pages and redirects",
    "read_themes": "Read theme templates and assets",
    "read_files": "Read files",
    "read_discounts": "Read discounts",
}


def normalize_scopes(scopes: list[str] | tuple[str, ...] | str) -> list[str]:
    """Handles without blanks or duplicates, in order (a string is split on commas)."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    return list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def has_scope(granted: list[str], scope: str) -> bool:
    return scope in granted or (
        scope.startswith("read_") and f"write_{scope.removeprefix('read_')}" in granted
    )


def describe(handle: str) -> str:
    if handle in DESCRIPTIONS:
        return DESCRIPTIONS[handle]
    verb, _, what = handle.partition("_")
    return f"{verb.capitalize()} {what.replace('_', ' ')}".strip()


def access_denied(field: str, scope: str) -> GraphQLError:
    required = f"`{scope}` access scope."
    return GraphQLError(
        f"Access denied for {field} field. Required access: {required}",
        extensions={
            "code": "ACCESS_DENIED",
            "documentation": ACCESS_DOCS,
            "requiredAccess": required,
        },
    )


def guard(field: str, scope: str, resolver: Resolver | None) -> Resolver:
    """``resolver`` behind a scope check (None: the default dict resolver's behaviour)."""

    def resolve(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        shop: FakeShop = info.context
        if not has_scope(shop.granted_scopes, scope):
            raise access_denied(field, scope)
        if resolver is None:
            return root.get(field) if isinstance(root, dict) else None
        return resolver(root, info, **args)

    return resolve


def resolve_app_installation(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    shop: FakeShop = info.context
    return {
        "__typename": "AppInstallation",
        "id": f"gid://shopify/AppInstallation/{shop.installation_number}",
        "accessScopes": [
            {"handle": handle, "description": describe(handle)} for handle in shop.granted_scopes
        ],
    }


def bind_scopes(schema: GraphQLSchema) -> None:
    """Put the scope checks in front of the QueryRoot resolvers; bind currentAppInstallation."""
    root = schema.type_map["QueryRoot"]
    assert isinstance(root, GraphQLObjectType)
    for name, definition in root.fields.items():
        scope = FIELD_SCOPES.get(name)
        if scope is not None:
            definition.resolve = guard(name, scope, definition.resolve)
    root.fields["currentAppInstallation"].resolve = resolve_app_installation
