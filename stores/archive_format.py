"""The store archive's layout: a zip of BSON streams plus a JSON manifest.

```
manifest.json              format, clientKey, version, createdAt; per collection count, sha256,
                           size, create options and indexes
data/<collection>.bson     the collection's documents in `_id` order, each `bson` as stored,
                           back to back (mongodump's .bson layout: `bsondump` reads it)
appconfig/clients.bson     the client's appconfig.clients document (secrets still encrypted)
appconfig/shops.bson       its appconfig.shops entries
```

Why zip with DEFLATE: it is in the standard library (zstd only arrives in 3.14), every entry
can be written and read as a stream, the manifest is written last yet read first (the central
directory gives random access, which a tar.gz stream lacks), each entry carries a CRC-32 on top
of our sha256, and `unzip` opens it anywhere.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import quote

from bson import json_util
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stores.errors import ArchiveError

FORMAT = "shopsync-store-archive"
FORMAT_VERSION = 1
MANIFEST_ENTRY = "manifest.json"
APPCONFIG_ENTRIES = {"clients": "appconfig/clients.bson", "shops": "appconfig/shops.bson"}
# A BSON document is at most 16 MiB; the server's own slack on top of that.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 + 16 * 1024
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


class IndexSpec(BaseModel):
    """One index as `index_information()` describes it (the `_id` index is implicit)."""

    name: str
    key: list[tuple[str, Any]] = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class EntrySummary(BaseModel):
    """What one BSON entry holds: checked in full on import."""

    count: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class CollectionEntry(EntrySummary):
    options: dict[str, Any] = Field(default_factory=dict)
    indexes: list[IndexSpec] = Field(default_factory=list)


class ArchiveManifest(BaseModel):
    """manifest.json; fields a later format adds are ignored, a later formatVersion refused."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["shopsync-store-archive"]
    formatVersion: Literal[1]
    clientKey: str
    database: str
    shopsyncVersion: str
    createdAt: str
    # In export order: the order import writes them in.
    collections: dict[str, CollectionEntry]
    appconfig: dict[Literal["clients", "shops"], EntrySummary]


def entry_name(collection: str) -> str:
    """`data/<collection>.bson`, with anything unusual in the name percent-quoted."""
    return f"data/{quote(collection, safe='._-')}.bson"


def check_collection_name(name: str) -> str:
    """Refuse names MongoDB reserves or that could not come from a store database."""
    if not name or len(name) > 200 or "$" in name or "\0" in name or name.startswith("system."):
        raise ArchiveError(f"archive names a collection MongoDB does not allow: {name[:60]!r}")
    return name


def write_entry(archive: zipfile.ZipFile, entry: str, documents: Iterable[bytes]) -> EntrySummary:
    """Stream BSON documents into one entry; their count, sha256 and size."""
    digest, count, size = hashlib.sha256(), 0, 0
    # force_zip64: the size is unknown until the end and may pass 4 GiB.
    with archive.open(entry, "w", force_zip64=True) as stream:
        for document in documents:
            stream.write(document)
            digest.update(document)
            count += 1
            size += len(document)
    return EntrySummary(count=count, sha256=digest.hexdigest(), bytes=size)


def read_entry(archive: zipfile.ZipFile, entry: str, expected: EntrySummary) -> Iterator[bytes]:
    """The entry's BSON documents one by one; ArchiveError once they differ from `expected`."""
    digest, count = hashlib.sha256(), 0
    try:
        with archive.open(entry) as stream:
            for document in _documents(stream, entry):
                digest.update(document)
                count += 1
                if count > expected.count:
                    raise ArchiveError(f"{entry} holds more documents than the manifest says")
                yield document
    except KeyError:
        raise ArchiveError(f"archive has no {entry}") from None
    except _DAMAGED as error:
        raise ArchiveError(f"{entry} is damaged: {error}") from None
    if count != expected.count:
        raise ArchiveError(f"{entry} holds {count} documents, the manifest {expected.count}")
    if digest.hexdigest() != expected.sha256:
        raise ArchiveError(f"{entry} does not match its sha256 in the manifest")


def _documents(stream: IO[bytes], entry: str) -> Iterator[bytes]:
    """Split back-to-back BSON documents: each starts with its int32 little-endian length."""
    while head := stream.read(4):
        size = int.from_bytes(head, "little")
        if len(head) < 4 or not 5 <= size <= MAX_DOCUMENT_BYTES:
            raise ArchiveError(f"{entry} is damaged: no BSON document at a boundary")
        body = stream.read(size - 4)
        if len(body) != size - 4 or body[-1] != 0:
            raise ArchiveError(f"{entry} is truncated or damaged")
        yield head + body


def verify_entries(archive: zipfile.ZipFile, manifest: ArchiveManifest) -> None:
    """Read every entry through: counts, sha256 and CRC-32 all as the manifest says."""
    for name, collection in manifest.collections.items():
        for _ in read_entry(archive, entry_name(name), collection):
            pass
    for part, summary in manifest.appconfig.items():
        for _ in read_entry(archive, APPCONFIG_ENTRIES[part], summary):
            pass


def write_manifest(archive: zipfile.ZipFile, manifest: ArchiveManifest) -> None:
    # Extended JSON: index options (a partial filter's dates, say) keep their BSON types.
    text = json_util.dumps(
        manifest.model_dump(), json_options=json_util.RELAXED_JSON_OPTIONS, indent=2
    )
    archive.writestr(MANIFEST_ENTRY, text + "\n")


def read_manifest(archive: zipfile.ZipFile) -> ArchiveManifest:
    try:
        raw = json_util.loads(archive.read(MANIFEST_ENTRY))
    except KeyError:
        raise ArchiveError("not a shopsync store archive: no manifest.json") from None
    except _DAMAGED as error:
        raise ArchiveError(f"manifest.json is damaged: {error}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArchiveError("not a shopsync store archive")
    if raw.get("formatVersion") != FORMAT_VERSION:
        raise ArchiveError(f"archive format {raw.get('formatVersion')!r} is not supported")
    try:
        manifest = ArchiveManifest.model_validate(raw)
    except ValidationError as error:
        raise ArchiveError(f"manifest.json is not valid: {error.error_count()} errors") from None
    for name in manifest.collections:
        check_collection_name(name)
    return manifest


@contextmanager
def open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """The archive for reading; a missing, truncated or foreign file raises ArchiveError."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ArchiveError(f"no archive at {str(path)!r}") from None
    except _DAMAGED as error:
        raise ArchiveError(f"not a readable archive (truncated?): {error}") from None
    with archive:
        yield archive
