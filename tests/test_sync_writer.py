"""sync: documents, idempotent writes, stale guards and sweeps on real SecantusDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from sync.resources.theme_files import json_target, parse_theme_json
from sync.storage.documents import convert_timestamps, safe_key, safe_keys, unwrap_connections
from sync.storage.writer import sweep, tombstone, write_documents

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def doc(n: int, title: str = "t", updated: datetime = T0) -> dict[str, Any]:
    return {"_id": f"gid://shopify/Product/{n}", "title": title, "updatedAt": updated}


def test_timestamps_become_utc_datetimes_at_any_depth() -> None:
    converted = convert_timestamps(
        {
            "updatedAt": "2026-01-02T03:04:05Z",
            "title": "x",
            "variants": [{"createdAt": "2026-01-01T00:00:00-05:00"}],
        }
    )
    assert converted["updatedAt"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert converted["variants"][0]["createdAt"] == datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert converted["title"] == "x"


@pytest.mark.parametrize(
    ("key", "stored"),
    [
        ("a.b", "a\uff0eb"),
        ("$x", "\uff04x"),
        ("a$b", "a$b"),  # only a leading "$" is special
        ("", "\uff3f"),
        ("a\0b", "a\u2400b"),
        ("$.\0", "\uff04\uff0e\u2400"),
        ("title", "title"),
    ],
)
def test_keys_mongodb_cannot_store_become_look_alikes(key: str, stored: str) -> None:
    # Given a key from outside (theme JSON, a webhook payload), Then it is stored escaped
    assert safe_key(key) == stored


@pytest.mark.real
def test_escaped_keys_round_trip_through_secantus_db(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    # Given a payload with every key MongoDB refuses or mangles
    payload = {"": 1, "a\0b": 2, "$set": {"x.y": 3}}
    # When stored escaped, Then MongoDB keeps every key as escaped
    real_mongo.keys.docs.insert_one({"_id": 1, "payload": safe_keys(payload)})
    stored = real_mongo.keys.docs.find_one({"_id": 1})
    escaped = {"\uff3f": 1, "a\u2400b": 2, "\uff04set": {"x\uff0ey": 3}}
    assert stored is not None and stored["payload"] == escaped


def test_keys_are_made_safe_and_connections_unwrapped() -> None:
    assert safe_keys({"a.b": {"$x": 1}}) == {"a\uff0eb": {"\uff04x": 1}}
    wrapped = {
        "variants": {"nodes": [{"id": 1}], "pageInfo": {}},
        "media": {"edges": [{"node": {"id": 2}}]},
    }
    assert unwrap_connections(wrapped) == {"variants": [{"id": 1}], "media": [{"id": 2}]}


def test_theme_json_loses_shopifys_leading_comment() -> None:
    text = '/*\n * IMPORTANT: generated\n */\n{"current": {"a": 1}}'
    assert parse_theme_json(text) == {"current": {"a": 1}}
    assert json_target("templates/product.alternate.json") == (
        "templates",
        "product\uff0ealternate",
    )
    assert json_target("config/settings_data.json") == ("settings", None)
    assert json_target("snippets/a.liquid") is None


@pytest.mark.real
def test_same_page_twice_writes_nothing_the_second_time(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    products = real_mongo.store.products
    page = [doc(n) for n in range(5)]
    later = NOW + timedelta(minutes=5)
    first = write_documents(products, page, run_id="run1", now=NOW)
    # the next run lists the same page: nothing rewritten, all skipped
    second = write_documents(products, page, run_id="run2", now=later)
    # the first run doing its page again after a crash: nothing rewritten either, but the
    # documents stay counted as that run's upserts (its checkpoint never recorded them)
    again = write_documents(products, page, run_id="run1", now=later)
    assert (first.upserted, first.skipped) == (5, 0)
    assert (second.upserted, second.skipped) == (0, 5)
    assert (again.upserted, again.skipped) == (5, 0)
    assert products.count_documents({}) == 5
    stored = products.find_one({"_id": page[0]["_id"]})
    assert stored["deleted"] is False and stored["syncedAt"] == NOW


@pytest.mark.real
def test_an_older_version_never_overwrites_a_newer_one(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    products = real_mongo.store.products
    write_documents(products, [doc(1, "new", T0 + timedelta(hours=1))], run_id=None, now=NOW)
    counts = write_documents(products, [doc(1, "old", T0)], run_id=None, now=NOW)
    assert counts.skipped == 1
    assert products.find_one({"_id": doc(1)["_id"]})["title"] == "new"


@pytest.mark.real
def test_sweep_tombstones_only_what_the_run_did_not_see(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    products = real_mongo.store.products
    write_documents(products, [doc(n) for n in range(4)], run_id="old", now=T0)
    started = T0 + timedelta(days=1)
    write_documents(products, [doc(0), doc(1, "changed")], run_id="new", now=started)
    # A webhook wrote doc 3 after the run started: it must survive the sweep.
    products.update_one({"_id": doc(3)["_id"]}, {"$set": {"syncedAt": started}})
    assert sweep(products, run_id="new", run_started=started, now=NOW) == 1
    deleted = products.find_one({"_id": doc(2)["_id"]})
    assert deleted["deleted"] is True and deleted["deletedAt"] == NOW
    assert products.count_documents({"deleted": False}) == 3
    assert tombstone(products, [doc(0)["_id"]], now=NOW) == 1


class _RacingCollection:
    """A collection where another writer stores `racer` right after our first read."""

    def __init__(self, collection: Any, racer: dict[str, Any]) -> None:
        self._collection, self._racer, self.reads = collection, racer, 0

    def find(self, *args: Any, **kwargs: Any) -> Any:
        found = list(self._collection.find(*args, **kwargs))
        self.reads += 1
        if self.reads == 1:
            write_documents(self._collection, [self._racer], run_id=None, now=NOW)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


@pytest.mark.real
@pytest.mark.parametrize(("racer_minutes", "title"), [(120, "racer"), (30, "ours")])
def test_a_write_between_our_read_and_write_is_judged_again(
    real_mongo: MongoClient[dict[str, Any]], racer_minutes: int, title: str
) -> None:
    # Given a stored product, and a webhook that writes it again right after our read
    products = real_mongo.store.products
    write_documents(products, [doc(1, "stored", T0)], run_id=None, now=NOW)
    racer = doc(1, "racer", T0 + timedelta(minutes=racer_minutes))
    racing = _RacingCollection(products, racer)
    # When our version (an hour newer than the stored one) is written
    counts = write_documents(racing, [doc(1, "ours", T0 + timedelta(hours=1))],  # type: ignore[arg-type]
                             run_id="run", now=NOW)  # fmt: skip
    # Then the newer of the racer's and ours is stored, after a second look
    assert racing.reads == 2
    assert products.find_one({"_id": doc(1)["_id"]})["title"] == title
    assert (counts.upserted, counts.skipped) == ((0, 1) if title == "racer" else (1, 0))


@pytest.mark.real
def test_a_new_document_gets_no_field_it_did_not_have(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    # Given a media node without updatedAt (a Video selects it only in another fragment)
    media = real_mongo.store.media
    write_documents(media, [{"_id": "gid://shopify/Video/1", "alt": "v"}], run_id=None, now=NOW)
    # Then the stored document has no updatedAt at all (the guard's conditions are not copied)
    stored = media.find_one({"_id": "gid://shopify/Video/1"})
    assert "updatedAt" not in stored and "deletedAt" not in stored and stored["alt"] == "v"
