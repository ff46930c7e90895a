"""Metrics the workers record: GraphQL requests, points and throttling, documents written,
pass durations and jobs, token refreshes (in-process, single-process registry)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import mongomock
import pytest
from prometheus_client import REGISTRY

from config_db.models import parse_client_config
from config_db.repository import ConfigRepository
from config_db.secrets import TokenCipher
from sync.auth.oauth import TokenGrant, TokenRefused
from sync.auth.tokens import TokenSource
from sync.errors import ShopifyAuthError, ShopifyUnavailable
from sync.orchestration.context import Checkpoint, SyncContext
from sync.orchestration.jobs import JobStore
from sync.shopify.client import CallStats, StoreCredentials
from tests.conftest import make_settings, seed_payload
from tests.test_sync_shopify import OK, QUERY, THROTTLED, client_for, scripted


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def store(key: str) -> StoreCredentials:
    return StoreCredentials(key, f"{key}.myshopify.com", "http://127.0.0.1:9/graphql.json", "t")


# --- GraphQL ----------------------------------------------------------------------------------


def test_graphql_requests_points_and_throttling_are_counted_per_store() -> None:
    # Given a store answered THROTTLED, then 429, then 500, then OK (2 points)
    http, _ = scripted(
        (200, THROTTLED, {}),
        (429, {"errors": "Throttled"}, {"Retry-After": "1.5"}),
        (500, "oops", {}),
        (200, OK, {}),
    )
    sleeps: list[float] = []
    client_for(http, sleeps).query(store("gql"), QUERY, cost=2, stats=CallStats())
    # Then every request is counted by result, the points charged, and both waits
    assert value("shopsync_graphql_requests_total", client_key="gql", result="ok") == 1
    assert value("shopsync_graphql_requests_total", client_key="gql", result="throttled") == 2
    assert value("shopsync_graphql_requests_total", client_key="gql", result="error") == 1
    assert value("shopsync_graphql_throttled_total", client_key="gql") == 2
    assert value("shopsync_graphql_points_total", client_key="gql") == 2
    assert value("shopsync_graphql_throttle_waits_total", client_key="gql") == 2
    waited = value("shopsync_graphql_throttle_wait_seconds_total", client_key="gql")
    assert waited == pytest.approx(0.05 + 1.5)  # the shortest refill wait, then Retry-After


def test_a_refused_token_is_counted_unauthorized() -> None:
    http, _ = scripted((401, {"errors": "[API] Invalid API key"}, {}))
    with pytest.raises(ShopifyAuthError):
        client_for(http, []).query(store("denied"), QUERY, cost=1, stats=CallStats())
    assert value("shopsync_graphql_requests_total", client_key="denied", result="unauthorized")


# --- documents, passes, jobs -------------------------------------------------------------------


def test_documents_are_counted_by_resource_and_outcome_not_seen() -> None:
    ctx = SyncContext(
        settings=make_settings(),
        client=None,  # type: ignore[arg-type]
        store=store("docs"),
        store_db=None,  # type: ignore[arg-type]
        job_id="j1",
        resource="products",
        mode="full",
        since=None,
        run_started=datetime.now(UTC),
        checkpoint=Checkpoint(),
        deadline=time.monotonic() + 60,
    )
    ctx.count(seen=10, upserted=6, skipped=4, pages=1)
    ctx.count(deleted=2, mediaUpserted=3)
    labels = {"client_key": "docs", "resource": "products"}
    assert value("shopsync_documents_total", **labels, outcome="upserted") == 6
    assert value("shopsync_documents_total", **labels, outcome="skipped") == 4
    assert value("shopsync_documents_total", **labels, outcome="deleted") == 2
    assert value("shopsync_documents_total", **labels, outcome="seen") == 0


def test_a_pass_and_a_job_are_counted_once_however_often_their_end_is_told() -> None:
    jobs = JobStore(mongomock.MongoClient(tz_aware=True).passes)
    pass_labels = {"resource": "discounts", "mode": "incremental", "status": "completed"}
    passes = value("shopsync_sync_pass_duration_seconds_count", **pass_labels)
    ended = value("shopsync_sync_jobs_total", client_key="once", mode="incremental",
                  status="completed")  # fmt: skip
    job = jobs.create("once", "incremental", ["discounts"], trigger="test")
    jobs.resource_started(job["_id"], "discounts", "incremental")
    jobs.resource_finished(job["_id"], "discounts", "completed")
    jobs.resource_finished(job["_id"], "discounts", "completed")  # a stale delivery's echo
    jobs.finish(job["_id"], "completed")
    assert value("shopsync_sync_pass_duration_seconds_count", **pass_labels) == passes + 1
    assert value(
        "shopsync_sync_jobs_total", client_key="once", mode="incremental", status="completed"
    ) == (ended + 1)


# --- token refreshes ----------------------------------------------------------------------------


class _Lock:
    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class _Redis:
    def lock(self, *args: Any, **kwargs: Any) -> _Lock:
        return _Lock()


class _Endpoint:
    """The token endpoint, answering from a script: a grant, or an exception to raise."""

    attempts = 1

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def client_credentials(self, base_url: str, app: Any) -> TokenGrant:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return TokenGrant(access_token=answer, expires_at=None)


def test_token_refreshes_are_counted_by_outcome() -> None:
    repository = ConfigRepository(mongomock.MongoClient(tz_aware=True).appconfig, TokenCipher("k"))
    for key in ("tokok", "tokdown", "tokrefused"):
        payload = seed_payload(key, adminShopToken=None, clientId="id", clientSecret="s")
        repository.save_client(parse_client_config(payload, env="development", db_prefix=""))
    endpoint = _Endpoint(
        "shpat_new", ShopifyUnavailable("token endpoint down"), TokenRefused("invalid_grant")
    )
    source = TokenSource(make_settings(), repository, _Redis(), endpoint)  # type: ignore[arg-type]
    assert source.current("tokok") == "shpat_new"
    with pytest.raises(ShopifyUnavailable):
        source.current("tokdown")
    with pytest.raises(TokenRefused):
        source.current("tokrefused")
    for key, outcome in (("tokok", "refreshed"), ("tokdown", "failed"), ("tokrefused", "refused")):
        labels = {"client_key": key, "mode": "client_credentials", "outcome": outcome}
        assert value("shopsync_token_refreshes_total", **labels) == 1, labels
    assert "shpat_new" not in repr(list(REGISTRY.collect()))
