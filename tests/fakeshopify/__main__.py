"""Run a fake Shopify until killed.

    python -m tests.fakeshopify --port 8800 --shop demo:shpat_demo_token [--products 50] [--seed 1]
        [--client-secret fake-client-secret] [--client-id fake-client-id] [--token-lifetime 15]

``--shop`` may be repeated; the n-th shop uses seed ``--seed + n``.
"""

from __future__ import annotations

import argparse
import sys

from tests.fakeshopify.data import generate_store
from tests.fakeshopify.server import FakeShopify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakeshopify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument(
        "--shop",
        action="append",
        metavar="NAME:TOKEN",
        help="a shop and its Admin API token (repeatable; default demo:shpat_demo_token)",
    )
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--large-file-bytes",
        type=int,
        default=0,
        help="add one GenericFile of exactly this size to each shop",
    )
    parser.add_argument(
        "--product-variants",
        default="1,1,2,3,4,5",
        help="variants per product (but the first), drawn from this comma list",
    )
    parser.add_argument(
        "--product-media", default="0,1,1,2,2,3", help="images per product, drawn likewise"
    )
    parser.add_argument("--bucket-max", type=float, default=1000.0)
    parser.add_argument("--restore-rate", type=float, default=50.0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument(
        "--client-secret",
        default="fake-client-secret",
        help="the app secret (signs webhooks and OAuth redirects, authenticates token requests)",
    )
    parser.add_argument("--client-id", default="fake-client-id", help="the app's client id")
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        metavar="SECONDS",
        help="lifetime of expiring and client-credentials access tokens (default 3600 / 86399)",
    )
    args = parser.parse_args(argv)

    fake = FakeShopify(client_secret=args.client_secret, client_id=args.client_id)
    for index, spec in enumerate(args.shop or ["demo:shpat_demo_token"]):
        name, sep, token = spec.partition(":")
        if not name or not sep or not token:
            parser.error(f"--shop wants NAME:TOKEN, got {spec!r}")
        data = generate_store(
            args.seed + index,
            products=args.products,
            large_file_bytes=args.large_file_bytes,
            product_variants=tuple(int(n) for n in args.product_variants.split(",")),
            product_media=tuple(int(n) for n in args.product_media.split(",")),
        )
        shop = fake.add_shop(name, token=token, data=data)
        shop.configure(
            bucket_max=args.bucket_max, restore_rate=args.restore_rate, latency_seconds=args.latency
        )
        if args.token_lifetime is not None:
            shop.configure(
                access_token_lifetime_seconds=args.token_lifetime,
                client_credentials_lifetime_seconds=args.token_lifetime,
            )
    handle = fake.serve(args.host, args.port, background=False)
    for shop in fake.shops.values():
        print(
            f"{shop.name}: {shop.admin_base_url}  (domain {shop.shop_domain}, token {shop.token})"
        )
    print(f"control: {handle.url}/_control/shops", flush=True)
    try:
        handle.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        handle.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
