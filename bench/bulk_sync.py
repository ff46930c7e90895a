"""Bulk operations: JSONL ingest speed and memory, and a full sync bulk against paged.

    python -m bench.bulk_sync [--lines 100000,1000000] [--products 5000] [--skip-sync]
        [--paths bulk,paged]

Ingest: a products export (parents, 6 variants each, every 5th parent's first child before
it) served over HTTP from a file, streamed and assembled in a child process (its peak RSS is
the number reported), with writes excluded (assembled batches dropped) and included (the
products writer into SecantusDB). Sync: one 5,000-product store (about 33,000 variants)
through the real stack (gunicorn, one Dramatiq worker, SecantusDB, Redis, the fake Shopify in
its own process) under a 2000-point bucket refilled at 100 points/s, once bulk and once paged.
Prints a table. SecantusDB is far slower than MongoDB and everything shares 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests import servers

ROOT = Path(__file__).resolve().parent.parent


def write_export(path: Path, lines: int) -> None:
    """A products export of about `lines` lines, in Shopify's ungrouped order."""
    with path.open("w") as out:
        written, product = 0, 0
        while written < lines:
            pid = f"gid://shopify/Product/{7_000_000 + product}"
            parent = json.dumps({"id": pid, "title": f"Product {product}", "handle": f"p-{product}",
                                 "status": "ACTIVE", "tags": ["a", "b"],
                                 "updatedAt": "2026-06-01T00:00:00Z", "variantsCount": {"count": 6},
                                 "mediaCount": {"count": 0}})  # fmt: skip
            children = [
                json.dumps({"id": f"gid://shopify/ProductVariant/{9_000_000 + product * 6 + n}",
                            "title": f"V{n}", "sku": f"SKU-{product}-{n}", "price": "19.90",
                            "position": n + 1, "__parentId": pid})  # fmt: skip
                for n in range(6)
            ]
            early = product % 5 == 4  # a child before its parent
            block = [children[0], parent, *children[1:]] if early else [parent, *children]
            out.write("\n".join(block) + "\n")
            written, product = written + len(block), product + 1


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = partial(_Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


def ingest_child(url: str, mongo_uri: str | None) -> dict[str, Any]:
    """Run in the child: stream, assemble and (maybe) write; answer rate and memory."""
    from sync.bulk.assembly import Assembler
    from sync.bulk.operations import stream_lines

    write, seen = _writer(mongo_uri)
    assembler = Assembler(lambda line: ("variants",))
    process, lines, started = psutil.Process(), 0, time.monotonic()
    rss_early = 0
    with httpx.Client(timeout=60) as http:
        for raw, _end in stream_lines(http, url):
            ready = assembler.add(json.loads(raw))
            if ready:
                write(ready)
            lines += 1
            if lines == 50_000:
                rss_early = process.memory_info().rss
        rest, refetch = assembler.drain()
        write(rest)
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"lines": lines, "seconds": elapsed, "peak_rss": peak, "rss_at_50k": rss_early,
            "parents": seen[0], "refetch": len(refetch)}  # fmt: skip


def _writer(mongo_uri: str | None) -> tuple[Any, list[int]]:
    seen = [0]
    if mongo_uri is None:
        def drop(nodes: list[Any]) -> None:
            seen[0] += len(nodes)

        return drop, seen
    from datetime import UTC, datetime

    from pymongo import MongoClient

    from sync.resources.products import NAME
    from sync.storage.documents import convert_timestamps
    from sync.storage.writer import write_documents

    store: Any = MongoClient(mongo_uri, tz_aware=True)["bench_ingest"]
    store.drop_collection(NAME)

    def into_mongo(nodes: list[Any]) -> None:
        # What products.product_document does for an export line with every variant inline.
        documents = [
            convert_timestamps({**{k: v for k, v in node.items() if k != "variants"},
                                "_id": node["id"],
                                "variants": node.get("variants", {}).get("nodes", []),
                                "media": []})  # fmt: skip
            for node in nodes
        ]
        write_documents(store[NAME], documents, run_id="bench", now=datetime.now(UTC))
        seen[0] += len(documents)

    return into_mongo, seen


def ingest_rows(sizes: list[int], mongo_uri: str, work: Path) -> list[list[str]]:
    rows = []
    server, base = serve(work)
    try:
        for size in sizes:
            path = work / f"export-{size}.jsonl"
            write_export(path, size)
            for label, uri in (("excluded", None), ("included", mongo_uri)):
                result = json.loads(subprocess.run(
                    [sys.executable, "-m", "bench.bulk_sync", "--child-url",
                     f"{base}/{path.name}", *(["--child-mongo", uri] if uri else [])],
                    cwd=ROOT, check=True, capture_output=True, text=True,
                ).stdout)  # fmt: skip
                rate = result["lines"] / result["seconds"]
                early, peak = result["rss_at_50k"] / 2**20, result["peak_rss"] / 2**20
                rows.append([f"{size:,}", label, f"{rate:,.0f}", f"{result['seconds']:.1f}",
                             f"{early:.0f}", f"{peak:.0f}", f"{result['refetch']}"])  # fmt: skip
                print("  ", rows[-1], flush=True)
    finally:
        server.shutdown()
    return rows


def fake_process(port: int, name: str, products: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeshopify", "--port", str(port), "--shop",
         f"{name}:shpat_{name}", "--products", str(products), "--bucket-max", "2000",
         "--restore-rate", "100", "--product-variants", "5,6,6,7,7,8", "--seed", "5"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    process.stdout.readline()
    return process


def sync_row(log_dir: Path, mongo_uri: str, redis_url: str, products: int, path: str) -> list[str]:
    from bench.sync_throughput import Shop
    from tests.harness import start_stack

    port, name = servers.free_port(), f"bench{path}"
    fake = fake_process(port, name, products)
    stack = start_stack(f"bulk-{path}", log_dir, mongo_uri, redis_url, workers=0,
                        SHOPSYNC_SYNC_PATH=path, SHOPSYNC_BULK_POLL_MAX_SECONDS="5")  # fmt: skip
    stack.add_worker(threads=8)
    shop = Shop(port, name)
    try:
        httpx.post(f"{shop.control}/configure", json={"webhooks_enabled": False}, timeout=30)
        started = time.monotonic()
        job = stack.wait_job(name, stack.configure(shop), timeout=4 * 3600)
        elapsed = time.monotonic() - started
        stats = shop.stats()
    finally:
        stack.stop()
        fake.terminate()
        fake.wait(10)
    runs = job["resources"]
    return [path, job["status"], f"{runs['products']['seen']:,}", f"{elapsed:,.0f}",
            f"{sum(r.get('points', 0) for r in runs.values()):,}", f"{stats['requests']:,}",
            f"{stats['points_actual']:,}"]  # fmt: skip


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]  # fmt: skip
    return "\n".join([line, rule, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", default="100000,1000000")
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--paths", default="bulk,paged", help="which full syncs to run")
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-mongo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_url:
        print(json.dumps(ingest_child(args.child_url, args.child_mongo)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mongo = servers.secantus(work, storage=str(work / "db")).start()
        redis = servers.redis_server(work).start()
        mongo_uri = f"mongodb://127.0.0.1:{mongo.port}"
        try:
            print("JSONL ingest ...", flush=True)
            sizes = [int(n) for n in args.lines.split(",") if n]
            ingest = ingest_rows(sizes, mongo_uri, work) if sizes else []
            syncs = []
            if not args.skip_sync:
                for path in args.paths.split(","):
                    print(f"full sync, {path} ...", flush=True)
                    syncs.append(sync_row(work, mongo_uri, f"redis://127.0.0.1:{redis.port}/0",
                                          args.products, path))  # fmt: skip
                    print("  ", syncs[-1], flush=True)
        finally:
            redis.stop()
            mongo.stop()
    if ingest:
        print()
        print(table(["lines", "MongoDB writes", "lines/s", "seconds", "RSS at 50k lines (MB)",
                     "peak RSS (MB)", "parents fetched again"], ingest))  # fmt: skip
    if syncs:
        print()
        print(table(["path", "status", "products", "wall s", "points (job)", "requests (fake)",
                     "points (fake)"], syncs))  # fmt: skip


if __name__ == "__main__":
    main()
