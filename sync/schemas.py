"""The body of POST /api/stores/<clientKey>/sync and the answers of the sync routes.

SyncRequest validates the request itself; the answer models describe the job records
(interface.md "Sync jobs") for the OpenAPI document. Job records gain fields as the sync
learns more, so they allow extra fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sync.orchestration.jobs import JobStatus, SyncMode

ResourceStatus = Literal["queued", "running", "completed", "failed", "skipped"]


class SyncRequest(BaseModel):
    """An optional body; no body at all is a full sync."""

    model_config = ConfigDict(extra="forbid")

    mode: SyncMode = "full"


class SyncStarted(BaseModel):
    clientKey: str
    syncJobId: str
    mode: SyncMode
    warning: str | None = Field(default=None, description="Set when the broker was down")


class ResourceProgress(BaseModel):
    """One resource's run within a job."""

    model_config = ConfigDict(extra="allow")

    status: ResourceStatus
    seen: int = Field(ge=0)
    upserted: int = Field(ge=0)
    deleted: int = Field(ge=0)
    skipped: int = Field(ge=0)
    pages: int = Field(ge=0)
    points: int | float = Field(ge=0, description="GraphQL cost points spent")
    throttleWaits: int = Field(ge=0)
    expected: int | None = Field(default=None, description="Shopify's count, when known")
    mode: SyncMode | None = None
    path: Literal["bulk", "paged"] | None = None
    bulkOperationId: str | None = None
    bulkStatus: str | None = Field(default=None, description="Shopify's BulkOperationStatus")
    objectCount: int | None = None
    bytesDownloaded: int | None = None
    linesIngested: int | None = None
    fallbackReason: str | None = Field(default=None, description="Why bulk went paged")
    error: str | None = Field(default=None, description="A skipped run names the scope")
    startedAt: datetime | None = None
    finishedAt: datetime | None = None
    durationSeconds: float | None = None
    etaSeconds: float | None = Field(default=None, ge=0, description="Estimated time left")
    phase: str | None = Field(
        default=None,
        description="While running: the step under way (main, deletions, listing; for a bulk "
        "run export requested, export running, reading export, refetching)",
    )
    activeAt: datetime | None = Field(default=None, description="When the run last moved")


class SyncJob(BaseModel):
    model_config = ConfigDict(extra="allow")

    jobId: str
    clientKey: str
    mode: SyncMode
    status: JobStatus
    trigger: str = Field(description="config, manual, schedule, reauthorized, ...")
    resources: dict[str, ResourceProgress] = Field(description="By store collection name")
    createdAt: datetime
    startedAt: datetime | None
    finishedAt: datetime | None
    error: str | None
    progress: float | None = Field(
        default=None, ge=0, le=1, description="Overall fraction done, from seen/expected"
    )
    etaSeconds: float | None = Field(
        default=None, ge=0, description="Estimated time left, from the store's measured rates"
    )


class JobList(BaseModel):
    items: list[SyncJob] = Field(description="Newest first")
