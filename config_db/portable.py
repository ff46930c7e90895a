"""One client's appconfig documents as stored, carried in and out of a store archive.

Secrets stay encrypted exactly as stored: nothing here decrypts, so they only work again on a
deployment with the same SHOPSYNC_SECRET_KEY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from config_db.mongo import MongoDocument
from config_db.repository import CLIENTS, SHOPS


@dataclass(frozen=True)
class ClientDocuments:
    """A client's `appconfig.clients` document (if any) and its `appconfig.shops` entries."""

    clients: list[MongoDocument] = field(default_factory=list)
    shops: list[MongoDocument] = field(default_factory=list)


def read_client_documents(appconfig: Database[MongoDocument], client_key: str) -> ClientDocuments:
    """The stored documents of `client_key`, untouched (tokens encrypted)."""
    return ClientDocuments(
        clients=list(appconfig[CLIENTS].find({"_id": client_key})),
        shops=list(appconfig[SHOPS].find({"clientKey": client_key}).sort("_id", 1)),
    )


def restore_client_documents(
    appconfig: Database[MongoDocument], documents: ClientDocuments, client_key: str
) -> str:
    """Store the documents under `client_key` unless that client exists (ignoring case) or
    another client owns the shop; returns a sentence saying what was done."""
    if not documents.clients:
        return "the archive carries no client config: the store has data only"
    client = _renamed_client(documents.clients[0], client_key)
    existing = appconfig[CLIENTS].find_one({"clientKeyLower": client_key.lower()}, {"_id": 1})
    if existing is not None:
        return f"client {existing['_id']!r} exists: its config was kept, not the archive's"
    domains = sorted({str(shop["_id"]) for shop in documents.shops} | _domain(client))
    owner = _other_owner(appconfig, domains, client_key)
    if owner is not None:
        return (
            f"shop {owner[0]} belongs to client {owner[1]!r}: config not restored, data only "
            f"(the read API and syncs serve {client_key!r} once it is configured; restore over "
            f"{owner[1]!r} with --as {owner[1]} --replace, or import on another deployment)"
        )
    try:
        appconfig[CLIENTS].insert_one(client)
    except DuplicateKeyError:
        return f"client {client_key!r} was created meanwhile: its config was kept"
    try:
        for shop in documents.shops:
            # Matching clientKey too: a shop another client took meanwhile collides on _id.
            appconfig[SHOPS].replace_one(
                {"_id": shop["_id"], "clientKey": client_key},
                shop | {"clientKey": client_key},
                upsert=True,
            )
    except DuplicateKeyError:
        appconfig[CLIENTS].delete_one({"_id": client_key})
        appconfig[SHOPS].delete_many({"clientKey": client_key})
        return "the shop was configured for another client meanwhile: config not restored"
    return f"config of client {client_key!r} restored (secrets as encrypted by the exporter)"


def _renamed_client(client: MongoDocument, client_key: str) -> MongoDocument:
    renamed = {"_id": client_key, "clientKey": client_key, "clientKeyLower": client_key.lower()}
    return client | renamed


def _domain(client: MongoDocument) -> set[str]:
    domain = client.get("shopDomain")
    return {domain} if isinstance(domain, str) else set()


def _other_owner(
    appconfig: Database[MongoDocument], domains: list[str], client_key: str
) -> tuple[str, str] | None:
    """(shop, owner) of the first shop a client other than `client_key` holds."""
    others = {"$in": domains}
    shop = appconfig[SHOPS].find_one({"_id": others, "clientKey": {"$ne": client_key}})
    if shop is not None:
        return str(shop["_id"]), str(shop["clientKey"])
    client = appconfig[CLIENTS].find_one({"shopDomain": others, "_id": {"$ne": client_key}})
    if client is not None:
        return str(client["shopDomain"]), str(client["_id"])
    return None
