"""Answers of the read API (/api/stores/* and /api/shops/*), for the OpenAPI document.

Documents keep Shopify's GraphQL fields, which differ per collection and per API version,
so a document is an open object with the fields shopsync itself adds typed.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StoreDocument(BaseModel):
    """A synced document (or a webhook event): Shopify's fields plus shopsync's own."""

    model_config = ConfigDict(extra="allow")

    document_id: str = Field(alias="_id", description="The Shopify GID (events: id:topic)")
    deleted: bool | None = Field(default=None, description="False on live documents")
    deletedAt: datetime | None = None
    syncedAt: datetime | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None


class DocumentPage(BaseModel):
    items: list[StoreDocument]
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class DiscountCode(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The code's GID")
    code: str
    asyncUsageCount: int | None = None


class CodePage(BaseModel):
    items: list[DiscountCode]
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
