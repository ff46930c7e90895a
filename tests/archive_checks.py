"""Comparing two store databases byte for byte (export/import tests)."""

from __future__ import annotations

from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from gridfs import GridFSBucket
from pymongo import MongoClient

RAW = CodecOptions(document_class=RawBSONDocument)


def raw_documents(client: MongoClient[Any], db_name: str, collection: str) -> list[bytes]:
    store_db = client.get_database(db_name, codec_options=RAW)
    return [bytes(doc.raw) for doc in store_db[collection].find({}, sort=[("_id", 1)])]


def assert_identical_databases(client: MongoClient[Any], left: str, right: str) -> int:
    """Same collections, the same BSON bytes in each, the same indexes, the same GridFS
    bytes read back through GridFS; returns how many GridFS files were compared."""
    names = sorted(client[left].list_collection_names())
    assert names == sorted(client[right].list_collection_names())
    for name in names:
        assert raw_documents(client, left, name) == raw_documents(client, right, name), name
        assert client[left][name].index_information() == client[right][name].index_information()
    files = 0
    for bucket_name in {name.rsplit(".", 1)[0] for name in names if name.endswith(".files")}:
        mine = GridFSBucket(client[left], bucket_name=bucket_name)
        theirs = GridFSBucket(client[right], bucket_name=bucket_name)
        for grid_file in mine.find({}):
            expected = grid_file.read()
            assert theirs.open_download_stream(grid_file._id).read() == expected
            files += 1
    return files
