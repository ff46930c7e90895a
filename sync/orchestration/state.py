"""Per-store, per-resource sync state in `_syncstate`: the incremental cursor and history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from config_db.mongo import MongoDocument
from stores.freshness import SKIPPED_FIELD
from stores.naming import SYNC_STATE
from sync.orchestration.progress import next_rates


class SyncState:
    """`_id` = resource; `cursor` = updated-at high-water mark, never past a pass's start."""

    def __init__(self, store_db: Database[MongoDocument]) -> None:
        self._state = store_db[SYNC_STATE]

    def get(self, resource: str) -> MongoDocument:
        return self._state.find_one({"_id": resource}) or {"_id": resource}

    def all(self) -> dict[str, MongoDocument]:
        return {doc["_id"]: doc for doc in self._state.find()}

    def completed(
        self,
        resource: str,
        mode: str,
        run_started: datetime,
        job_id: str,
        *,
        seen: int = 0,
        path: str = "paged",
    ) -> None:
        """After a successful pass: advance the cursor to the pass's start (never backwards),
        and remember the pass's pace (`rates.<mode>.<path>`) for the time-left estimates."""
        state = self.get(resource)
        current = state.get("cursor")
        fields: dict[str, Any] = {f"last{mode.title()}At": run_started, "lastJobId": job_id}
        if current is None or current < run_started:
            fields["cursor"] = run_started
        duration = (datetime.now(UTC) - run_started).total_seconds()
        previous = (state.get("rates") or {}).get(mode)
        fields[f"rates.{mode}"] = next_rates(previous, path, seen, duration)
        self._state.update_one(
            {"_id": resource}, {"$set": fields, "$unset": {SKIPPED_FIELD: ""}}, upsert=True
        )

    def skipped(self, resource: str, reason: str) -> None:
        """The resource's run was skipped (a missing scope): not counted as behind until it
        completes a pass again (stores.freshness)."""
        self._state.update_one({"_id": resource}, {"$set": {SKIPPED_FIELD: reason}}, upsert=True)

    def started(self, resource: str, mode: str, at: datetime) -> None:
        """A run began (it was not skipped): the resource counts for freshness again, from
        its last complete pass, so runs that now fail every time show as lag."""
        self._state.update_one(
            {"_id": resource},
            {"$set": {f"last{mode.title()}StartedAt": at}, "$unset": {SKIPPED_FIELD: ""}},
            upsert=True,
        )
