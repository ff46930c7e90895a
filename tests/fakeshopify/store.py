"""One fake shop: its data, its mutation API, its cost bucket, faults and request statistics."""

from __future__ import annotations

import copy
import hashlib
import threading
from typing import Any

from tests.fakeshopify import cdn
from tests.fakeshopify.bulkshop import BulkOperations
from tests.fakeshopify.data import RESOURCES, CdnEntry, Node, StoreData, gid_number, now_iso
from tests.fakeshopify.limits import Limits
from tests.fakeshopify.membership import Memberships
from tests.fakeshopify.themefiles import BASE64_LIMIT, file_entry
from tests.fakeshopify.tokens import Tokens
from tests.fakeshopify.webhookshop import Webhooks


def _rewrite(obj: Any, pairs: list[tuple[str, str]]) -> Any:
    """Replace substrings in every string of a nested structure, in place."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = _rewrite(value, pairs)
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            obj[index] = _rewrite(value, pairs)
    elif isinstance(obj, str):
        for old, new in pairs:
            if old in obj:
                obj = obj.replace(old, new)
    return obj


class FakeShop(Limits, Webhooks, Tokens, BulkOperations, Memberships):
    """A shop's state. Every public method is thread-safe (one re-entrant lock per shop).

    Changes made through the mutation API queue webhooks for the subscribed topics (see
    :mod:`tests.fakeshopify.webhookshop`); ``put_theme_file`` sends none, as on Shopify.
    Product changes re-evaluate rule-based collections silently (:mod:`.membership`).
    Tokens, OAuth codes and access scopes: :mod:`tests.fakeshopify.tokens`; bulk operations:
    :mod:`tests.fakeshopify.bulkshop`.
    """

    def __init__(self, name: str, token: str | None, data: StoreData,
                 client_secret: str = "fake-client-secret") -> None:  # fmt: skip
        self.name = name
        self.token: str | None = token  # the static (non-expiring) token; assignable
        self.data = data
        self.lock = threading.RLock()
        self._init_limits(name)
        self._init_webhooks(client_secret)
        self._init_tokens()
        self._init_bulk()
        self._init_memberships()
        self._version = 0
        self._sorted: dict[tuple[str, str | None], tuple[int, list[Any], list[Any]]] = {}
        self._index: tuple[int, dict[str, Node]] = (-1, {})
        self._seq = len(data.deletion_events)
        self._base: str | None = None
        data.shop["name"] = f"{name.title()} Store"
        self._bind(data.shop)
        for resource in RESOURCES:
            for node in data.resources[resource].values():
                self._bind(node)

    # ------------------------------------------------------------ addresses
    @property
    def shop_domain(self) -> str:
        return f"{self.name}.myshopify.com"

    @property
    def admin_base_url(self) -> str:
        if self._base is None:
            raise RuntimeError("admin_base_url is known once FakeShopify.serve() has run")
        return f"{self._base}/shops/{self.name}"

    @property
    def installation_number(self) -> int:
        """The number in this shop's ``gid://shopify/AppInstallation/<n>``."""
        return 100_000_000 + int(hashlib.sha256(self.name.encode()).hexdigest()[:7], 16)

    def _prefix(self, base: str | None = None) -> str:
        return cdn.shop_prefix(base or self._base or cdn.UNBOUND_BASE, self.name)

    def _bind(self, node: Node) -> None:
        """Point a freshly generated node's placeholder URLs and domain at this shop."""
        pairs = [(cdn.shop_prefix(cdn.UNBOUND_BASE, cdn.UNBOUND_SHOP), self._prefix()),
                 (cdn.UNBOUND_DOMAIN, self.shop_domain)]  # fmt: skip
        _rewrite(node, pairs)
        for item in node.get("files") or () if node.get("__typename") == "OnlineStoreTheme" else ():
            body = item["body"]
            if body.get("__typename") == "OnlineStoreThemeFileBodyUrl":
                data = self.cdn_bytes(body["url"])
                item["checksumMd5"] = hashlib.md5(data).hexdigest()
                item["size"] = str(len(data))

    def set_base(self, base: str) -> None:
        """Called by the server: CDN URLs now point at ``base``."""
        with self.lock:
            old, self._base = self._prefix(), base
            _rewrite(self.data.resources, [(old, self._prefix())])
            self._version += 1

    # ------------------------------------------------------------ reads used by resolvers
    def sorted_entries(self, resource: str, field: str | None) -> tuple[list[Any], list[Any]]:
        """(entries, keys) of a resource sorted ascending by (field value, numeric id)."""
        with self.lock:
            cached = self._sorted.get((resource, field))
            if cached is not None and cached[0] == self._version:
                return cached[1], cached[2]
            entries = []
            for gid, node in self.data.resources[resource].items():
                number = gid_number(gid)
                if field is None:
                    key: tuple[Any, int] = (number, number)
                else:
                    source = node.get("discount", node) if resource == "discounts" else node
                    key = (source.get(field) or "", number)
                entries.append((key, node))
            entries.sort(key=lambda entry: entry[0])
            keys = [entry[0] for entry in entries]
            self._sorted[(resource, field)] = (self._version, entries, keys)
            return entries, keys

    def lookup(self, gid: str) -> Node | None:
        with self.lock:
            if self._index[0] != self._version:
                index: dict[str, Node] = {self.data.shop["id"]: self.data.shop}
                for resource in RESOURCES:
                    for key, node in self.data.resources[resource].items():
                        index[key] = node
                        for nested in ("variants", "media", "options"):
                            for item in node.get(nested) or ():
                                index[item["id"]] = item
                self._index = (self._version, index)
            return self._index[1].get(gid)

    # ------------------------------------------------------------ mutation API
    def _node(self, resource: str, gid: str) -> Node:
        if resource not in RESOURCES:
            raise KeyError(f"unknown resource {resource!r}; one of {RESOURCES}")
        node = self.data.resources[resource].get(gid)
        if node is None:
            raise KeyError(f"no {resource} node {gid!r}")
        return node

    def _touch(self, resource: str, node: Node, now: str) -> None:
        target = node["discount"] if resource == "discounts" else node
        target["updatedAt"] = now
        self._version += 1

    def snapshot(self, resource: str) -> list[Node]:
        with self.lock:
            if resource in ("deletionEvents", "deletion_events"):
                return [{k: v for k, v in event.items() if k != "_seq"}
                        for event in self.data.deletion_events]  # fmt: skip
            if resource not in RESOURCES:
                raise KeyError(f"unknown resource {resource!r}; one of {RESOURCES}")
            return copy.deepcopy(list(self.data.resources[resource].values()))

    def update(self, resource: str, gid: str, fields: dict[str, Any]) -> None:
        from tests.fakeshopify.mutations import apply_update

        with self.lock:
            node = self._node(resource, gid)
            now = now_iso()
            apply_update(self, resource, node, copy.deepcopy(fields), now)
            self._bind(node)
            self._refresh_memberships(resource, gid)
            self._touch(resource, node, now)
            self._notify(resource, "update", gid)

    def create(self, resource: str, node: dict[str, Any] | None = None) -> str:
        from tests.fakeshopify.mutations import create_node

        with self.lock:
            made = create_node(self.data, resource, copy.deepcopy(node or {}), now_iso())
            self._bind(made)
            self.data.resources[resource][made["id"]] = made
            self._refresh_memberships(resource, made["id"])
            self._version += 1
            self._notify(resource, "create", made["id"])
            return str(made["id"])

    def delete(self, resource: str, gid: str) -> None:
        with self.lock:
            self._node(resource, gid)
            del self.data.resources[resource][gid]
            now = now_iso()
            if resource in ("products", "collections"):
                self._seq += 1
                subject = "PRODUCT" if resource == "products" else "COLLECTION"
                self.data.deletion_events.append(
                    {"occurredAt": now, "subjectId": gid, "subjectType": subject, "_seq": self._seq}
                )
            if resource == "products":  # memberships go (collections are not touched)
                for collection in self.data.resources["collections"].values():
                    if gid in collection["productIds"]:
                        collection["productIds"].remove(gid)
            if resource == "collections":  # collections built on it change (silently)
                self._refresh_collection(gid)
            if resource == "blogs":  # a blog's articles go with it
                articles = self.data.resources["articles"]
                for article_id in [a for a, n in articles.items() if n["blog"]["id"] == gid]:
                    del articles[article_id]
            self._version += 1
            self._notify(resource, "delete", gid)

    def set_collection_members(self, collection_gid: str, product_gids: list[str]) -> None:
        with self.lock:
            node = self._node("collections", collection_gid)
            node["productIds"] = list(dict.fromkeys(product_gids))
            self._refresh_dependents(collection_gid)  # the list is kept as given
            self._touch("collections", node, now_iso())
            self._notify("collections", "update", collection_gid)

    def add_codes(self, discount_gid: str, codes: list[str]) -> None:
        with self.lock:
            discount = self._node("discounts", discount_gid)["discount"]
            if "codes" not in discount:
                raise ValueError(f"{discount['__typename']} has no codes")
            existing = {item["code"] for item in discount["codes"]}
            added: list[Node] = []
            for code in codes:
                if code in existing:
                    raise ValueError(f"code {code!r} already exists")
                existing.add(code)
                added.append({"id": self.data.gid("DiscountRedeemCode"), "code": code,
                              "asyncUsageCount": 0})  # fmt: skip
            discount["codes"].extend(added)
            self._touch("discounts", self.data.resources["discounts"][discount_gid], now_iso())
            self._notify_codes("added", discount_gid, added)

    def remove_codes(self, discount_gid: str, codes: list[str]) -> None:
        with self.lock:
            node = self._node("discounts", discount_gid)
            gone = set(codes)
            old = node["discount"].get("codes", [])
            node["discount"]["codes"] = [c for c in old if c["code"] not in gone]
            self._touch("discounts", node, now_iso())
            self._notify_codes("removed", discount_gid, [c for c in old if c["code"] in gone])

    def put_theme_file(self, theme_gid: str, filename: str, content: str | bytes) -> None:
        with self.lock:
            theme = self._node("themes", theme_gid)
            now = now_iso()
            old = next((f for f in theme["files"] if f["filename"] == filename), None)
            created = old["createdAt"] if old else now
            data = content.encode() if isinstance(content, str) else bytes(content)
            url = None
            if isinstance(content, bytes) and len(data) > BASE64_LIMIT:
                name = f"t{gid_number(theme_gid)}-{filename.replace('/', '-')}"
                version = self._version + 1
                self.data.cdn[name] = CdnEntry(len(data), cdn.content_type(name), data)
                url = cdn.cdn_url(self._base or cdn.UNBOUND_BASE, self.name, name, version)
            entry = file_entry(filename, data, created, now, url=url, text=isinstance(content, str))
            files = [f for f in theme["files"] if f["filename"] != filename] + [entry]
            theme["files"] = sorted(files, key=lambda item: item["filename"])
            self._version += 1

    # ------------------------------------------------------------ CDN
    def cdn_file(self, name: str, version: str) -> tuple[int, str, Any]:
        """(size, content type, iterator of chunks) for a CDN file of this shop."""
        entry = self.data.cdn.get(name) or CdnEntry(4096, cdn.content_type(name))
        if entry.data is not None:
            data = entry.data
            chunks = (data[i : i + cdn.CHUNK] for i in range(0, len(data), cdn.CHUNK))
            return len(data), entry.content_type, chunks
        return entry.size, entry.content_type, cdn.stream(self.name, name, version, entry.size)

    def cdn_bytes(self, url: str) -> bytes:
        ref = cdn.parse_url(url)
        if ref is None or ref.shop != self.name:
            raise ValueError(f"not a CDN URL of shop {self.name!r}: {url}")
        return b"".join(self.cdn_file(ref.name, ref.version)[2])
