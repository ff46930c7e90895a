"""A fake Shopify Admin GraphQL API for tests, benchmarks and the local demo.

fake = FakeShopify()
shop = fake.add_shop("alpha", token="shpat_alpha", data=generate_store(seed=1, products=300))
server = fake.serve()          # server.url, server.stop()
shop.admin_base_url            # f"{server.url}/shops/alpha"

Webhooks: ``shop.subscribe(...)`` or ``webhookSubscriptionCreate``; mutations then POST signed
deliveries (``shop.deliveries``, ``shop.wait_deliveries()``); ``WebhookReceiver`` records them.

Tokens: ``POST …/admin/oauth/access_token`` (client credentials, refresh, token exchange,
authorization code), ``GET …/admin/oauth/authorize``; ``shop.issue_expiring_pair()``,
``shop.revoke_tokens()``, ``shop.set_scopes([...])``, ``shop.token_requests``.

Bulk operations: ``bulkOperationRunQuery`` / ``shop.run_bulk(query)``, ``shop.wait_bulk(gid)``,
``shop.fail_next_bulk()``, ``shop.expire_next_bulk()``, ``shop.cancel_bulk(gid)``; results at
``GET /bulk/<shop>/<n>.jsonl`` (see ``README.md``).
"""

from __future__ import annotations

from tests.fakeshopify.data import StoreData, generate_store
from tests.fakeshopify.limits import ShopConfig
from tests.fakeshopify.oauth import signature as oauth_signature
from tests.fakeshopify.receiver import Received, WebhookReceiver
from tests.fakeshopify.scopes import DEFAULT_SCOPES
from tests.fakeshopify.server import API_VERSIONS, FakeShopify, ServerHandle
from tests.fakeshopify.store import FakeShop
from tests.fakeshopify.webhookdelivery import sign
from tests.fakeshopify.webhookpayloads import TOPICS, enum_topic, rest_topic

__all__ = [
    "API_VERSIONS",
    "DEFAULT_SCOPES",
    "FakeShop",
    "FakeShopify",
    "Received",
    "ServerHandle",
    "ShopConfig",
    "StoreData",
    "TOPICS",
    "WebhookReceiver",
    "enum_topic",
    "generate_store",
    "oauth_signature",
    "rest_topic",
    "sign",
]
