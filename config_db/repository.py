"""appconfig.clients and appconfig.shops: the only code that reads or writes them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from config_db.credentials import ISSUED_FIELDS, SECRET_FIELDS, AuthMode
from config_db.errors import Conflict, DatabaseUnavailable, NotFound
from config_db.models import ClientConfig, ClientStatus
from config_db.mongo import MongoConnection, MongoDocument
from config_db.secrets import TokenCipher, mask_secret
from config_db.settings import Settings

log = logging.getLogger(__name__)
CLIENTS = "clients"
SHOPS = "shops"
_OPTIONAL_FIELDS = tuple(
    name for name, field in ClientConfig.model_fields.items() if not field.is_required()
)


@dataclass(frozen=True)
class SavedClient:
    client: MongoDocument
    created: bool


def utcnow() -> datetime:
    return datetime.now(UTC)


class ConfigRepository:
    """Client configs and shops; tokens are encrypted here and nowhere else."""

    def __init__(self, db: Database[MongoDocument], cipher: TokenCipher) -> None:
        self._clients = db[CLIENTS]
        self._shops = db[SHOPS]
        self._cipher = cipher

    def ensure_indexes(self) -> None:
        """Create appconfig's indexes (idempotent)."""
        self._clients.create_index([("clientKeyLower", ASCENDING)], unique=True)
        self._clients.create_index([("shopDomain", ASCENDING)])
        self._clients.create_index([("status", ASCENDING)])
        self._shops.create_index([("clientKey", ASCENDING)], unique=True)

    def ensure_indexes_quietly(self) -> bool:
        """ensure_indexes at start-up without failing when MongoDB is not up yet."""
        try:
            self.ensure_indexes()
        except PyMongoError as error:
            log.warning("appconfig indexes not ensured yet: %s", type(error).__name__)
            return False
        return True

    def save_client(
        self,
        config: ClientConfig,
        status: ClientStatus | None = "active",
        *,
        keep_tokens: bool = False,
    ) -> SavedClient:
        """Insert or replace a client's config and its shop; conflicts raise before writing.

        `status=None` keeps the stored status (new clients start `active`). `keep_tokens`
        leaves the issued tokens as stored (a PATCH of other fields must never write back a
        pair that a refresh rotated meanwhile).
        """
        key, shop_domain = config.clientKey, config.resolved_shop_domain()
        self.check_conflicts(key, shop_domain)
        now = utcnow()
        fields = config.model_dump(exclude_none=True)
        for name in SECRET_FIELDS:
            if name in fields:
                fields[name] = self._cipher.encrypt(fields[name])
        if config.tokenExpiresAt:
            fields["tokenExpiresAt"] = config.token_expires_at
        fields.update(shopDomain=shop_domain, clientKeyLower=key.lower(), updatedAt=now)
        fields["auth.mode"] = config.auth_mode()
        if keep_tokens:
            for name in ISSUED_FIELDS:
                fields.pop(name, None)
        else:
            fields["auth.expiresAt"] = config.token_expires_at
            fields["auth.refreshedAt"] = None
        on_insert: dict[str, Any] = {"createdAt": now}
        if status is None:
            on_insert["status"] = "active"
        else:
            fields["status"] = status
            fields["statusReason"] = None
        kept = ISSUED_FIELDS if keep_tokens else ()
        unset = {name: "" for name in _OPTIONAL_FIELDS if name not in fields and name not in kept}
        unset["purgedAt"] = ""  # saved again: the store lives again
        update: dict[str, Any] = {"$set": fields, "$setOnInsert": on_insert}
        update["$unset"] = unset
        try:
            before = self._clients.find_one_and_update(
                {"_id": key}, update, upsert=True, return_document=ReturnDocument.BEFORE
            )
        except DuplicateKeyError:
            raise Conflict("a client with this clientKey exists", field="clientKey") from None
        try:
            self._save_shop(key, shop_domain, fields.get("adminShopToken"), now, keep_tokens)
        except Conflict:
            if before is None:
                self._clients.delete_one({"_id": key})
            raise
        return SavedClient(client=self.get_client(key), created=before is None)

    def check_conflicts(self, key: str, shop_domain: str) -> None:
        """Conflict when the key (ignoring case) or the shop belongs to another client."""
        same = self._clients.find_one({"clientKeyLower": key.lower()}, {"_id": 1})
        if same is not None and same["_id"] != key:
            raise Conflict(
                f"clientKey conflicts with existing client {same['_id']!r} (keys ignore case)",
                field="clientKey",
            )
        shop = self._shops.find_one({"_id": shop_domain}, {"clientKey": 1})
        if shop is not None and shop["clientKey"] != key:
            raise Conflict("shopDomain belongs to another client", field="shopDomain")

    def _save_shop(
        self, key: str, shop_domain: str, token: str | None, now: datetime, keep_token: bool
    ) -> None:
        # A client that moved to another shop domain releases its old shop first.
        self._shops.delete_many({"clientKey": key, "_id": {"$ne": shop_domain}})
        try:
            # Matching on clientKey too: a shop held by another client makes the upsert
            # collide on _id (DuplicateKeyError) instead of silently changing hands.
            self._shops.update_one(
                {"_id": shop_domain, "clientKey": key},
                {
                    "$set": {"clientKey": key, "updatedAt": now}
                    | ({} if keep_token else {"accessToken": token}),
                    "$setOnInsert": {
                        "installedAt": now,
                        "name": None,
                        "plan": None,
                        "currency": None,
                    },
                    "$unset": {"uninstalledAt": ""},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            raise Conflict("shopDomain belongs to another client", field="shopDomain") from None

    def get_client(self, key: str) -> MongoDocument:
        """The stored client document (tokens still encrypted); NotFound when absent."""
        client = self._clients.find_one({"_id": key})
        if client is None:
            raise NotFound(f"no client {key!r}", field="clientKey")
        return client

    def list_clients(self, status: str | None = None) -> list[MongoDocument]:
        query = {"status": status} if status else {}
        return list(self._clients.find(query).sort("_id", ASCENDING))

    def client_exists(self, key: str) -> bool:
        return self._clients.count_documents({"_id": key}, limit=1) > 0

    def find_shop(self, shop_domain: str) -> MongoDocument | None:
        return self._shops.find_one({"_id": shop_domain.strip().lower()})

    def client_key_for_shop(self, shop_domain: str) -> str | None:
        shop = self.find_shop(shop_domain)
        return None if shop is None else str(shop["clientKey"])

    def set_status(self, key: str, status: ClientStatus, reason: str | None = None) -> None:
        """Change a client's status (`needs_auth`, `uninstalled`, ...), keeping its data."""
        now = utcnow()
        update: dict[str, Any] = {
            "$set": {"status": status, "updatedAt": now, "statusReason": reason}
        }
        if self._clients.update_one({"_id": key}, update).matched_count == 0:
            raise NotFound(f"no client {key!r}", field="clientKey")
        if status == "uninstalled":
            self._shops.update_one({"clientKey": key}, {"$set": {"uninstalledAt": now}})

    def mark_needs_auth(self, key: str, reason: str) -> bool:
        """Shopify refused the client's credentials; the first reason is kept. True if new."""
        result = self._clients.update_one(
            {"_id": key, "status": {"$ne": "needs_auth"}},
            {"$set": {"status": "needs_auth", "statusReason": reason, "updatedAt": utcnow()}},
        )
        return result.modified_count > 0

    def update_shop(self, shop_domain: str, fields: dict[str, Any]) -> None:
        self._shops.update_one({"_id": shop_domain}, {"$set": fields})

    def forget_shop_tokens(self, key: str) -> None:
        """Remove every stored credential of a client (shop/redact)."""
        self._clients.update_one({"_id": key}, {"$unset": {n: "" for n in SECRET_FIELDS}})
        self._shops.update_many({"clientKey": key}, {"$unset": {"accessToken": ""}})

    def mark_purged(self, key: str) -> None:
        """Note that the store database was dropped on purpose (late writers drop it again)."""
        self._clients.update_one({"_id": key}, {"$set": {"purgedAt": utcnow()}})

    def record_redaction(self, key: str, event_id: str) -> None:
        """Keep, in appconfig, the proof that a shop/redact was carried out."""
        now = utcnow()
        self._clients.update_one(
            {"_id": key}, {"$set": {"redactedAt": now, "redactEventId": event_id}}
        )
        self._shops.update_many({"clientKey": key}, {"$set": {"redactedAt": now}})

    def secret(self, client: MongoDocument, name: str) -> str | None:
        """Decrypt one of a client's secrets for use (never for display)."""
        value = client.get(name)
        return None if value is None else self._cipher.decrypt(value)

    def config_payload(self, client: MongoDocument) -> dict[str, Any]:
        """The stored config as a POST payload would carry it (secrets decrypted)."""
        payload = {n: client[n] for n in ClientConfig.model_fields if client.get(n) is not None}
        if auth_mode_of(client) == "client_credentials":
            # The token was issued to shopsync, not posted: it is not part of the config.
            payload.pop("adminShopToken", None)
            payload.pop("tokenExpiresAt", None)
        for name in SECRET_FIELDS:
            if name in payload:
                payload[name] = self.secret(client, name)
        if isinstance(payload.get("tokenExpiresAt"), datetime):
            expiry = payload["tokenExpiresAt"].astimezone(UTC)
            payload["tokenExpiresAt"] = expiry.isoformat().replace("+00:00", "Z")
        return payload

    def store_tokens(
        self,
        key: str,
        access_token: str,
        expires_at: datetime | None,
        *,
        mode: AuthMode,
        refresh_token: str | None = None,
        scopes: list[str] | None = None,
    ) -> None:
        """Save a newly issued token (and rotated refresh token), encrypted, before its use."""
        now = utcnow()
        fields: dict[str, Any] = {
            "adminShopToken": self._cipher.encrypt(access_token),
            "auth.mode": mode,
            "auth.expiresAt": expires_at,
            "auth.refreshedAt": now,
            "updatedAt": now,
        }
        if mode != "static":
            fields["tokenExpiresAt"] = expires_at
        if refresh_token is not None:
            fields["refreshToken"] = self._cipher.encrypt(refresh_token)
        if self._clients.update_one({"_id": key}, {"$set": fields}).matched_count == 0:
            raise NotFound(f"no client {key!r}", field="clientKey")
        if scopes is not None:
            # interface.md: the token answer's `scope` only until currentAppInstallation is read.
            self._clients.update_one(
                {"_id": key, "auth.scopesCheckedAt": None}, {"$set": {"auth.scopes": scopes}}
            )
        self._shops.update_many(
            {"clientKey": key}, {"$set": {"accessToken": fields["adminShopToken"]}}
        )

    def note_client(self, key: str, fields: dict[str, Any]) -> None:
        """Record facts learnt about a client (granted scopes, breaker state); no secrets."""
        self._clients.update_one({"_id": key}, {"$set": fields})

    def public_view(self, client: MongoDocument) -> MongoDocument:
        """The client as the API shows it: internal fields dropped, secrets masked."""
        view = {k: v for k, v in client.items() if k not in ("_id", "clientKeyLower")}
        for name in SECRET_FIELDS:
            if name in view:
                view[name] = mask_secret(self.secret(client, name))
        return view

    def ping(self) -> None:
        try:
            self._clients.database.command("ping")
        except PyMongoError as error:
            raise DatabaseUnavailable(f"MongoDB unreachable: {type(error).__name__}") from None


def auth_mode_of(client: MongoDocument) -> AuthMode:
    """The stored client's credential form (documents from before it existed: static)."""
    mode = (client.get("auth") or {}).get("mode")
    return mode if mode in ("client_credentials", "expiring") else "static"


def build_repository(settings: Settings, connection: MongoConnection) -> ConfigRepository:
    """The repository over appconfig with the cipher derived from SHOPSYNC_SECRET_KEY."""
    return ConfigRepository(connection.appconfig, TokenCipher(settings.secret_key_value()))
