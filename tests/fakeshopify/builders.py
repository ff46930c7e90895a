"""Node factories for the generator: products, collections, blogs, articles, files, discounts."""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakeshopify import cdn
from tests.fakeshopify.data import CdnEntry, Node, StoreData

ADJECTIVES = ["Classic", "Organic", "Vintage", "Modern", "Rustic", "Sleek", "Cozy", "Bold",
              "Everyday", "Premium", "Lightweight", "Handmade"]  # fmt: skip
NOUNS = ["Tee", "Hoodie", "Mug", "Backpack", "Sneaker", "Candle", "Notebook", "Scarf", "Lamp",
         "Bottle", "Jacket", "Cap"]  # fmt: skip
VENDORS = ["Acme Co", "Northwind", "Blue Harbor", "Fjord & Fir", "Kestrel Goods"]
TYPES = ["Apparel", "Home", "Accessories", "Stationery", "Footwear"]
TAGS = ["summer", "winter", "sale", "new", "bestseller", "eco", "gift", "limited"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "6XL"]
COLORS = ["Red", "Blue", "Green", "Black", "White", "Grey", "Navy", "Olive", "Sand", "Plum"]
AUTHORS = ["Ada Park", "Ben Ortiz", "Chloe Smith", "Dev Patel"]
KINDS = ["DiscountCodeBasic", "DiscountCodeBxgy", "DiscountCodeFreeShipping", "DiscountCodeApp",
         "DiscountAutomaticBasic", "DiscountAutomaticBxgy", "DiscountAutomaticFreeShipping",
         "DiscountAutomaticApp"]  # fmt: skip


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def money(amount: float) -> str:
    return f"{amount:.2f}"


class Builder:
    """Makes complete nodes with fresh ids; registers CDN files in the store."""

    def __init__(self, store: StoreData) -> None:
        self.store = store
        self.rng = store.rng

    # ------------------------------------------------------------ helpers
    def cdn_file(self, name: str, size: int, version: int = 1) -> str:
        self.store.cdn[name] = CdnEntry(size=size, content_type=cdn.content_type(name))
        return cdn.cdn_url(cdn.UNBOUND_BASE, cdn.UNBOUND_SHOP, name, version)

    def image(self, name: str, alt: str | None) -> Node:
        width, height = self.rng.choice(((800, 800), (1200, 900), (1024, 1365), (640, 480)))
        url = self.cdn_file(name, self.rng.randint(2_000, 9_000))
        return {"id": self.store.gid("ImageSource"), "url": url, "altText": alt,
                "width": width, "height": height}  # fmt: skip

    def media_image(self, name: str, alt: str, created: str, updated: str) -> Node:
        image = self.image(name, alt)
        return {
            "__typename": "MediaImage", "id": self.store.gid("MediaImage"), "alt": alt,
            "mediaContentType": "IMAGE", "status": "READY", "fileStatus": "READY",
            "createdAt": created, "updatedAt": updated, "mimeType": cdn.content_type(name),
            "image": image, "preview": {"image": dict(image), "status": "READY"},
            "originalSource": {"url": image["url"], "fileSize": self.store.cdn[name].size},
        }  # fmt: skip

    def shop(self) -> Node:
        number = self.store.new_number()
        return {
            "__typename": "Shop", "id": f"gid://shopify/Shop/{number}",
            "name": f"Fake Store {self.store.seed}", "email": "owner@example.com",
            "myshopifyDomain": cdn.UNBOUND_DOMAIN, "currencyCode": "USD",
            "ianaTimezone": "America/New_York",
            "plan": {"displayName": "Basic", "partnerDevelopment": False, "shopifyPlus": False},
            "primaryDomain": {"host": cdn.UNBOUND_DOMAIN, "url": f"https://{cdn.UNBOUND_DOMAIN}"},
        }  # fmt: skip

    # ------------------------------------------------------------ products
    def product(self, created: str, updated: str, n_variants: int, n_media: int) -> Node:
        rng = self.rng
        number = self.store.new_number()
        gid = f"gid://shopify/Product/{number}"
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {number % 100000}"
        handle = f"{slug(title)}-{number}"
        status = rng.choices(("ACTIVE", "DRAFT", "ARCHIVED"), (8, 1, 1))[0]
        media = [self.media_image(f"p{number}_{k}.jpg", f"{title} view {k + 1}", created, updated)
                 for k in range(n_media)]  # fmt: skip
        options, combos = self._options(number, n_variants)
        variants = [self.variant(title, pos, combo, options, media, created, updated)
                    for pos, combo in enumerate(combos, start=1)]  # fmt: skip
        return {
            "__typename": "Product", "id": gid, "legacyResourceId": str(number),
            "title": title, "handle": handle,
            "description": f"The {title.lower()}, made to last.",
            "descriptionHtml": f"<p>The <strong>{title.lower()}</strong>, made to last.</p>",
            "vendor": rng.choice(VENDORS), "productType": rng.choice(TYPES), "status": status,
            "tags": sorted(rng.sample(TAGS, rng.randint(0, 3))),
            "templateSuffix": rng.choice((None, None, None, "alternate")),
            "createdAt": created, "updatedAt": updated,
            "publishedAt": created if status == "ACTIVE" else None,
            "onlineStoreUrl": f"https://{cdn.UNBOUND_DOMAIN}/products/{handle}"
            if status == "ACTIVE" else None,
            "isGiftCard": False,
            "seo": {"title": rng.choice((None, f"Buy the {title}")),
                    "description": rng.choice((None, f"Shop the {title.lower()} today."))},
            "options": options, "variants": variants, "media": media,
        }  # fmt: skip

    def _options(self, number: int, count: int) -> tuple[list[Node], list[Any]]:
        if count <= 1:
            option = {"id": self.store.gid("ProductOption"), "name": "Title", "position": 1,
                      "values": ["Default Title"]}  # fmt: skip
            return [option], [("Default Title",)]
        if count <= len(SIZES):
            sizes = SIZES[:count]
            option = {"id": self.store.gid("ProductOption"), "name": "Size", "position": 1,
                      "values": sizes}  # fmt: skip
            return [option], [(size,) for size in sizes]
        colors_needed = -(-count // len(SIZES))
        colors = [COLORS[i % len(COLORS)] + ("" if i < len(COLORS) else f" {i // len(COLORS)}")
                  for i in range(colors_needed)]  # fmt: skip
        combos = list(itertools.islice(itertools.product(colors, SIZES), count))
        options = [
            {"id": self.store.gid("ProductOption"), "name": "Color", "position": 1,
             "values": list(dict.fromkeys(c for c, _ in combos))},
            {"id": self.store.gid("ProductOption"), "name": "Size", "position": 2,
             "values": list(dict.fromkeys(s for _, s in combos))},
        ]  # fmt: skip
        return options, combos

    def variant(self, title: str, position: int, combo: tuple[str, ...], options: list[Node],
                media: list[Node], created: str, updated: str) -> Node:  # fmt: skip
        rng = self.rng
        number = self.store.new_number()
        price = rng.choice((9.5, 14.99, 19.99, 24.0, 39.99, 59.0, 120.0))
        image = None
        if media and rng.random() < 0.5:
            image = dict(rng.choice(media)["image"])
        vtitle = " / ".join(combo)
        return {
            "__typename": "ProductVariant", "id": f"gid://shopify/ProductVariant/{number}",
            "legacyResourceId": str(number), "title": vtitle,
            "displayName": f"{title} - {vtitle}", "sku": f"SKU-{number}",
            "price": money(price),
            "compareAtPrice": money(price * 1.25) if rng.random() < 0.3 else None,
            "barcode": rng.choice((None, str(400000000000 + number % 10**8))),
            "position": position, "inventoryQuantity": rng.randint(-2, 80),
            "taxable": rng.random() < 0.9, "availableForSale": rng.random() < 0.9,
            "createdAt": created, "updatedAt": updated,
            "selectedOptions": [{"name": option["name"], "value": value}
                                for option, value in zip(options, combo, strict=False)],
            "image": image,
        }  # fmt: skip

    # ------------------------------------------------------------ collections
    def collection(self, index: int, moment: tuple[str, str], members: list[str]) -> Node:
        """Odd ``index``: smart (``members`` are computed from the rules later); even: custom."""
        from tests.fakeshopify.collectiondata import smart_rule_set

        rng = self.rng
        number = self.store.new_number()
        title = "Everything" if index == 0 else f"{rng.choice(ADJECTIVES)} Picks {index}"
        rule_set = smart_rule_set(rng, index) if index % 2 == 1 else None
        image = self.image(f"c{number}.jpg", title) if rng.random() < 0.6 else None
        if image is not None:
            del image["id"]
        return {
            "__typename": "Collection", "id": f"gid://shopify/Collection/{number}",
            "legacyResourceId": str(number), "title": title,
            "handle": f"{slug(title)}-{number}", "description": f"{title} collection.",
            "descriptionHtml": f"<p>{title} collection.</p>",
            "sortOrder": rng.choice(("MANUAL", "BEST_SELLING", "ALPHA_ASC", "CREATED_DESC")),
            "templateSuffix": None, "updatedAt": moment[1], "image": image,
            "seo": {"title": None, "description": None}, "ruleSet": rule_set,
            "productIds": list(members),
        }  # fmt: skip

    # ------------------------------------------------------------ content
    def blog(self, index: int, moment: tuple[str, str]) -> Node:
        number = self.store.new_number()
        title = ("News", "Journal", "Guides", "Stories")[index % 4] + (
            "" if index < 4 else f" {index}"
        )
        return {
            "__typename": "Blog", "id": f"gid://shopify/Blog/{number}", "title": title,
            "handle": f"{slug(title)}-{number}", "commentPolicy": "MODERATED",
            "tags": [], "templateSuffix": None, "createdAt": moment[0], "updatedAt": moment[1],
        }  # fmt: skip

    def article(self, blog: Node, index: int, moment: tuple[str, str]) -> Node:
        rng = self.rng
        number = self.store.new_number()
        title = f"{rng.choice(ADJECTIVES)} ideas for your {rng.choice(NOUNS).lower()} #{index + 1}"
        published = rng.random() < 0.85
        image = self.image(f"a{number}.jpg", title) if rng.random() < 0.5 else None
        return {
            "__typename": "Article", "id": f"gid://shopify/Article/{number}", "title": title,
            "handle": f"{slug(title)}-{number}",
            "body": f"<h2>{title}</h2>" + "<p>Lorem ipsum dolor sit amet.</p>" * rng.randint(2, 8),
            "summary": f"<p>{title}.</p>", "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))),
            "templateSuffix": None, "author": {"name": rng.choice(AUTHORS)},
            "blog": {"id": blog["id"]}, "image": image, "isPublished": published,
            "publishedAt": moment[0] if published else None,
            "createdAt": moment[0], "updatedAt": moment[1],
        }  # fmt: skip

    def theme(self, index: int, moment: tuple[str, str]) -> Node:
        from tests.fakeshopify.themefiles import theme_files

        roles = ("MAIN", "UNPUBLISHED", "DEVELOPMENT", "DEMO", "ARCHIVED", "UNPUBLISHED")
        number = self.store.new_number()
        return {
            "__typename": "OnlineStoreTheme", "id": f"gid://shopify/OnlineStoreTheme/{number}",
            "name": ("Dawn", "Dawn (copy)", "Dev preview", "Sense", "Refresh")[index % 5],
            "role": roles[index % len(roles)], "processing": False, "processingFailed": False,
            "themeStoreId": 887 if index % 2 == 0 else None, "prefix": f"/t/{index + 1}",
            "createdAt": moment[0], "updatedAt": moment[1],
            "files": theme_files(self, number, moment),
        }  # fmt: skip

    # ------------------------------------------------------------ files library
    def file(self, index: int, moment: tuple[str, str]) -> Node:
        if index % 6 == 5:
            return self.video(f"clip-{self.store.next_number}.mp4", moment)
        if index % 3 == 2:
            name = f"doc-{self.store.next_number}.pdf"
            return self.generic_file(name, moment, size=self.rng.randint(5_000, 40_000))
        name = f"f{self.store.next_number}.png"
        node = self.media_image(name, f"Library image {index}", *moment)
        return node

    def generic_file(self, name: str, moment: tuple[str, str], size: int) -> Node:
        url = self.cdn_file(name, size)
        return {
            "__typename": "GenericFile", "id": self.store.gid("GenericFile"), "alt": name,
            "createdAt": moment[0], "updatedAt": moment[1], "fileStatus": "READY",
            "preview": {"image": None, "status": "READY"}, "url": url,
            "mimeType": cdn.content_type(name), "originalFileSize": size,
        }  # fmt: skip

    def video(self, name: str, moment: tuple[str, str]) -> Node:
        size = self.rng.randint(30_000, 80_000)
        url = self.cdn_file(name, size)
        source = {"url": url, "mimeType": "video/mp4", "format": "mp4", "fileSize": size,
                  "height": 720, "width": 1280}  # fmt: skip
        poster = self.image(name.replace(".mp4", "-poster.jpg"), name)
        return {
            "__typename": "Video", "id": self.store.gid("Video"), "alt": name,
            "mediaContentType": "VIDEO", "status": "READY", "fileStatus": "READY",
            "preview": {"image": poster, "status": "READY"}, "createdAt": moment[0],
            "updatedAt": moment[1], "filename": name, "duration": 12000,
            "sources": [dict(source)], "originalSource": dict(source),
        }  # fmt: skip

    # ------------------------------------------------------------ discounts
    def discount(self, kind: int, index: int, moment: tuple[str, str], n_codes: int) -> Node:
        from tests.fakeshopify.discountdata import discount_node

        return discount_node(self, KINDS[kind % len(KINDS)], index, moment, n_codes)

    def codes(self, prefix: str, count: int) -> list[Node]:
        return [
            {"id": self.store.gid("DiscountRedeemCode"), "code": f"{prefix}{k:04d}",
             "asyncUsageCount": self.rng.randint(0, 20)}
            for k in range(1, count + 1)
        ]  # fmt: skip
