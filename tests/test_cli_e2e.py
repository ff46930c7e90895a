"""`shopsync sync <key> --full --wait` as a process against real workers, Redis, SecantusDB
and the fake Shopify: it follows the job to its end with plain lines when piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack
from tests.servers import ROOT

pytestmark = pytest.mark.real
# `products        30/30 docs  bulk 95/95 objects  120 pts, 0 throttle waits  completed`
LINE = re.compile(
    r"^(?P<name>\w+)\s+(?P<seen>[\d,]+)/(?P<expected>[\d,]+|\?) docs  .*  (?P<state>\S.*)$"
)


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    stack = start_stack(
        "cli", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/5", threads=8,
        SHOPSYNC_STORE_CONCURRENCY="7",
    )  # fmt: skip
    yield stack
    stack.stop()


def test_sync_full_wait_follows_each_resource_to_its_expected_count(
    fake: FakeShopify, stack: Stack
) -> None:
    # Given a small store, synced once (its config's job)
    shape = {"products": 30, "big_product_variants": 20, "big_collection_members": 20,
             "big_discount_codes": 20, "files": 3, "articles_per_blog": 4}  # fmt: skip
    shop = fake.add_shop("clie2e", data=generate_store(seed=11, **shape))
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    assert stack.wait_job("clie2e", stack.configure(shop))["status"] == "completed"
    # When the operator runs a full sync and waits for it, output piped (no terminal), with
    # no API key set (a command never uses it)
    env = {name: value for name, value in {**os.environ, **stack.env}.items()
           if name != "SHOPSYNC_API_KEY"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "cli", "sync", "clie2e", "--full", "--wait"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    # Then it ends with the job, exit code 0, in plain lines, and nothing on stderr (a command
    # logs warnings and errors only: no info line, no word about the web's API key)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stderr == "", result.stderr
    assert "\x1b[" not in result.stdout
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"enqueued full sync job \w+ for clie2e", lines[0]), output
    assert re.fullmatch(r"job \w+ completed in .*", lines[-1]), output
    # and each resource's last line shows it completed with every expected document seen
    last = {m["name"]: m for line in lines if (m := LINE.match(line))}
    assert set(last) == {"products", "collections", "blogs", "articles", "themes", "media",
                         "discounts"}, output  # fmt: skip
    for name, line in last.items():
        assert line["state"] == "completed", line.string
        if name != "themes":  # no count field for themes: expected stays unknown
            assert line["seen"] == line["expected"], line.string
    assert last["products"]["expected"] == "30" and last["themes"]["expected"] == "?"
