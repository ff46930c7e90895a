"""Theme files: realistic Online Store 2.0 file sets and the three body kinds."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

from tests.fakeshopify import cdn
from tests.fakeshopify.data import Node

if TYPE_CHECKING:
    from tests.fakeshopify.builders import Builder

#: Binary files up to this size get a Base64 body; bigger ones a Url body on the CDN.
BASE64_LIMIT = 100 * 1024

_TEXT_TYPES = ("liquid", "json", "css", "js", "svg", "txt", "scss")

SETTINGS_COMMENT = (
    "/*\n * ------------------------------------------------------------\n"
    " * IMPORTANT: The contents of this file are auto-generated.\n"
    " *\n * This file may be updated by the Shopify admin theme editor\n"
    " * or related systems. Please exercise caution as any changes\n"
    " * made to this file may be overwritten.\n"
    " * ------------------------------------------------------------\n */\n"
)


def is_text(filename: str) -> bool:
    return cdn.extension(filename) in _TEXT_TYPES


def file_entry(
    filename: str,
    data: bytes,
    created: str,
    updated: str,
    *,
    url: str | None = None,
    text: bool | None = None,
) -> Node:
    """One ``OnlineStoreThemeFile`` dict; ``url`` given means a Url body served by the CDN."""
    if text is None:
        text = is_text(filename)
    body: dict[str, Any]
    if url is not None:
        body = {"__typename": "OnlineStoreThemeFileBodyUrl", "url": url}
    elif text:
        body = {"__typename": "OnlineStoreThemeFileBodyText", "content": data.decode()}
    else:
        body = {
            "__typename": "OnlineStoreThemeFileBodyBase64",
            "contentBase64": base64.b64encode(data).decode(),
        }
    return {
        "filename": filename,
        "checksumMd5": hashlib.md5(data).hexdigest(),
        "contentType": cdn.content_type(filename),
        "size": str(len(data)),
        "createdAt": created,
        "updatedAt": updated,
        "body": body,
    }


def _json(value: Any) -> str:
    return json.dumps(value, indent=2)


def _section(name: str, settings: int) -> str:
    schema = {
        "name": name.replace("-", " ").title(),
        "settings": [
            {"type": "text", "id": f"setting_{i}", "label": f"Setting {i}"} for i in range(settings)
        ],
    }
    return (
        f'<div class="section-{name}">\n  {{{{ section.settings.setting_0 }}}}\n'
        f"  {{% for block in section.blocks %}}{{% render 'block', block: block %}}"
        f"{{% endfor %}}\n</div>\n{{% schema %}}\n{_json(schema)}\n{{% endschema %}}\n"
    )


def _template(sections: list[str], suffix: str = "") -> str:
    return _json(
        {
            "sections": {
                f"{name}{suffix}": {"type": name, "settings": {"setting_0": name.upper()}}
                for name in sections
            },
            "order": [f"{name}{suffix}" for name in sections],
        }
    )


def text_files(number: int, extra: int) -> dict[str, str]:
    """Filename -> text content for one theme."""
    settings_data = {
        "current": {"logo": "shopify://shop_images/logo.png", "colors_accent_1": "#121212"},
        "presets": {"Default": {"type_header_font": "assistant_n4"}},
    }
    files: dict[str, str] = {
        "layout/theme.liquid": "<!doctype html>\n<html>\n<head>{{ content_for_header }}</head>\n"
        "<body>{% sections 'header-group' %}{{ content_for_layout }}"
        "{% sections 'footer-group' %}</body>\n</html>\n",
        "layout/password.liquid": "<html><body>{{ content_for_layout }}</body></html>\n",
        "config/settings_data.json": SETTINGS_COMMENT + _json(settings_data) + "\n",
        "config/settings_schema.json": _json(
            [{"name": "theme_info", "theme_name": "Dawn", "theme_version": f"15.{number % 9}.0"}]
        ),
        "templates/index.json": _template(["image-banner", "featured-collection"]),
        "templates/product.json": _template(["main-product"]),
        "templates/product.alternate.json": _template(["main-product", "image-banner"], "_alt"),
        "templates/collection.json": _template(["featured-collection"]),
        "templates/page.json": _template(["image-banner"]),
        "templates/article.json": _template(["image-banner"]),
        "templates/404.json": _template(["image-banner"]),
        "sections/header-group.json": _json(
            {
                "type": "header",
                "name": "Header group",
                "sections": {"header": {"type": "header"}},
                "order": ["header"],
            }  # fmt: skip
        ),
        "sections/footer-group.json": _json(
            {
                "type": "footer",
                "name": "Footer group",
                "sections": {"footer": {"type": "footer"}},
                "order": ["footer"],
            }  # fmt: skip
        ),
        "locales/en.default.json": _json({"general": {"cart": "Cart", "search": "Search"}}),
        "locales/fr.json": _json({"general": {"cart": "Panier", "search": "Rechercher"}}),
        "locales/en.default.schema.json": _json({"settings_schema": {"colors": "Colors"}}),
        "assets/base.css": ":root { --accent: #121212; }\nbody { margin: 0; }\n" * 20,
        "assets/component-card.css": ".card { display: grid; }\n" * 10,
        "assets/global.js": "class CartDrawer extends HTMLElement {}\n"
        "customElements.define('cart-drawer', CartDrawer);\n",
    }
    for name in ("header", "footer", "main-product", "image-banner", "featured-collection"):
        files[f"sections/{name}.liquid"] = _section(name, 3)
    for name in ("price", "card-product", "icon-cart", "block"):
        files[f"snippets/{name}.liquid"] = f"{{% comment %}} {name} {{% endcomment %}}\n"
    for index in range(extra):
        files[f"snippets/extra-{index}.liquid"] = f"<span>extra {index} of theme {number}</span>\n"
    return files


def theme_files(build: Builder, number: int, moment: tuple[str, str]) -> list[Node]:
    created, updated = moment
    rng = build.rng
    files = [
        file_entry(name, content.encode(), created, updated)
        for name, content in text_files(number, rng.randint(0, 8)).items()
    ]
    logo = cdn.content(f"theme-{number}", "logo.png", "1", rng.randint(1_500, 4_000))
    files.append(file_entry("assets/logo.png", logo, created, updated))
    font = cdn.content(f"theme-{number}", "icons.woff2", "1", rng.randint(8_000, 20_000))
    files.append(file_entry("assets/icons.woff2", font, created, updated))
    big_name = f"t{number}-hero-banner.png"
    size = rng.randint(150_000, 260_000)
    url = build.cdn_file(big_name, size)
    checksum = cdn.md5_hex(cdn.UNBOUND_SHOP, big_name, "1", size)
    entry = {
        "filename": "assets/hero-banner.png",
        "checksumMd5": checksum,
        "contentType": "image/png",
        "size": str(size),
        "createdAt": created,
        "updatedAt": updated,
        "body": {"__typename": "OnlineStoreThemeFileBodyUrl", "url": url},
    }
    files.append(entry)
    files.sort(key=lambda item: item["filename"])
    return files
