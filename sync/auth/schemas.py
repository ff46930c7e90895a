"""Answers of the app install (/auth/*) and token migration routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Installed(BaseModel):
    """200 from /auth/callback (JSON unless the browser prefers HTML)."""

    clientKey: str
    shopDomain: str
    syncJobId: str | None = Field(description="The full sync enqueued for the new store")


class Migrated(BaseModel):
    """200 from /auth/migrate: the store now holds an expiring offline token (never shown)."""

    clientKey: str
    mode: Literal["expiring"]
    migrated: bool = Field(description="False when the token was expiring already")
    expiresAt: datetime | None
    refreshedAt: datetime | None
