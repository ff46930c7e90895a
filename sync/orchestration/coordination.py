"""Leases in Redis: one sync per (store, resource), and a per-store concurrency limit.

The lock is owned by a job id from enqueue to the end of the resource's sync, so the
redelivered message of a killed worker owns it again at once. Store slots are short leases
the holder refreshes while it works, so a worker killed with SIGKILL blocks a slot for at
most one lease.
"""

from __future__ import annotations

import redis

_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Take a run claim: free, ours, or left by an earlier delivery of the same message (a killed
# worker's message redelivered: it takes its run back at once). ARGV[3] = "<message id>/".
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] or string.sub(current, 1, #ARGV[3]) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_SEMAPHORE_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
MS = 1000
# A (store, resource) lock lives from enqueue to the end of the sync, refreshed while it
# runs; longer than any message's time limit so a queued sync is never enqueued twice.
LOCK_TTL_SECONDS = 3 * 3600.0


class Coordinator:
    """Resource locks and store slots for the sync engine."""

    def __init__(
        self,
        client: redis.Redis,
        lease_seconds: float,
        store_slots: int,
        lock_ttl_seconds: float = LOCK_TTL_SECONDS,
        prefix: str = "shopsync:",
    ) -> None:
        self._client = client
        self._lease_ms = int(lease_seconds * MS)
        self._lock_ms = int(lock_ttl_seconds * MS)
        self._slots = store_slots
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._refresh = client.register_script(_REFRESH)
        self._release = client.register_script(_RELEASE)
        self._claim = client.register_script(_CLAIM)
        self._slot_acquire = client.register_script(_SEMAPHORE_ACQUIRE)

    def _lock_key(self, client_key: str, resource: str) -> str:
        return f"{self._prefix}lock:{client_key}:{resource}"

    def _slots_key(self, client_key: str) -> str:
        return f"{self._prefix}slots:{client_key}"

    def lock(self, client_key: str, resource: str, owner: str) -> bool:
        """Take (or keep) the (store, resource) lock for `owner`, a job id."""
        key = self._lock_key(client_key, resource)
        return bool(self._acquire(keys=[key], args=[owner, self._lock_ms]))

    def lock_owner(self, client_key: str, resource: str) -> str | None:
        owner = self._client.get(self._lock_key(client_key, resource))
        return owner.decode() if isinstance(owner, bytes) else owner

    def unlock(self, client_key: str, resource: str, owner: str) -> None:
        self._release(keys=[self._lock_key(client_key, resource)], args=[owner])

    def take_slot(self, client_key: str, holder: str) -> bool:
        """One of the store's concurrent sync slots, or False when all are busy."""
        return bool(
            self._slot_acquire(
                keys=[self._slots_key(client_key)], args=[holder, self._slots, self._lease_ms]
            )
        )

    def free_slot(self, client_key: str, holder: str) -> None:
        self._client.zrem(self._slots_key(client_key), holder)

    def take_bulk_slot(self, shop_domain: str, holder: str, limit: int) -> bool:
        """One of the shop's bulk-query slots (Shopify's per-app-per-shop limit), or False.

        Keyed by shop, not client: every worker and job of that shop shares them. The holder
        refreshes it while its operation runs, so a killed worker's slot frees after a lease.
        """
        key = f"{self._prefix}bulkslots:{shop_domain}"
        return bool(self._slot_acquire(keys=[key], args=[holder, limit, self._lease_ms]))

    def free_bulk_slot(self, shop_domain: str, holder: str) -> None:
        self._client.zrem(f"{self._prefix}bulkslots:{shop_domain}", holder)

    def wake_bulk(self, operation_id: str, status: str, ttl_seconds: int = 3600) -> None:
        """Record that Shopify said `operation_id` finished (the bulk_operations/finish hook)."""
        self._client.set(f"{self._prefix}bulkdone:{operation_id}", status, ex=ttl_seconds)

    def bulk_woken(self, operation_id: str) -> bool:
        return bool(self._client.exists(f"{self._prefix}bulkdone:{operation_id}"))

    def refresh(
        self, client_key: str, resource: str, owner: str, holder: str, runner: str | None = None
    ) -> bool:
        """Extend the lock, the slot and the run while work goes on.

        Each is taken again when missing (Redis came back empty). False when another delivery
        has taken the run over: this one must stop, and touches neither the lock nor the slot
        (the run may have ended meanwhile: a lock taken again then would outlive its job).
        """
        if runner is not None:
            key = self._run_key(owner, resource)
            if not self._acquire(keys=[key], args=[runner, self._lease_ms]):
                return False
        self._acquire(keys=[self._lock_key(client_key, resource)], args=[owner, self._lock_ms])
        self.take_slot(client_key, holder)
        return True

    def _run_key(self, job_id: str, resource: str) -> str:
        return f"{self._prefix}run:{job_id}:{resource}"

    def claim_run(self, job_id: str, resource: str, runner: str) -> bool:
        """One delivery at a time works on a (job, resource): any other waits for the lease.

        `runner` is "<message id>/<delivery>": the redelivery of a killed worker's message
        takes its run back at once; a second live delivery of it takes it over too, and the
        first one stops at its next heartbeat or checkpoint (see SyncContext).
        """
        message_prefix = runner.split("/", 1)[0] + "/"
        key = self._run_key(job_id, resource)
        return bool(self._claim(keys=[key], args=[runner, self._lease_ms, message_prefix]))

    def run_alive(self, job_id: str, resource: str) -> bool:
        """Someone holds the run's lease (refreshed at every page and throttle wait)."""
        return bool(self._client.exists(self._run_key(job_id, resource)))

    def release_run(self, job_id: str, resource: str, runner: str) -> None:
        self._release(keys=[self._run_key(job_id, resource)], args=[runner])

    def force_unlock(self, client_key: str, resource: str) -> None:
        """Drop a lock whose job has ended without releasing it."""
        self._client.delete(self._lock_key(client_key, resource))

    def lead(self, key: str, identity: str) -> bool:
        """Take or keep a leadership lease (one lease long) for `identity`, atomically."""
        return bool(self._acquire(keys=[key], args=[identity, self._lease_ms]))
