"""The shared frontier of a distributed crawl, in Redis (no Scrapy).

Keys, all under one prefix (`ARCHIVER_REDIS_PREFIX`, default `archiver`):

- `P:queue`            sorted set: serialized requests, score = -priority (scrapy-redis'
                       PriorityQueue layout);
- `P:dupefilter`       set: request fingerprints (scrapy-redis' RFPDupeFilter);
- `P:inflight:W`       sorted set: what worker W popped and has not finished, with the
                       score it had in the queue;
- `P:workers`          set of worker ids; `P:alive:W` a key with a TTL, refreshed by W;
- `P:sites`, `P:seeds` site profiles (JSON) and the names whose seeds are still to be
                       scheduled (`archiver.distributed.sites`);
- `P:host:H:active`, `P:host:H:next`   the global per-host limiter (`limiter`).

A pop moves a request from the queue to the worker's in-flight set in one Lua script,
so a request is always in exactly one of them; the worker removes it (ack) once Scrapy
has handled its outcome. A worker whose `alive` key expired (killed, powered off) has
its in-flight requests moved back to the queue by the next worker that looks.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

import redis

from archiver.config import ConfigError

POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return nil end
redis.call('ZREM', KEYS[1], r[1])
redis.call('ZADD', KEYS[2], r[2], r[1])
return r
"""

# KEYS: queue, inflight:W, workers, alive:W; ARGV: W, force ("1": requeue even if alive)
REQUEUE = """
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local items = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #items, 2 do redis.call('ZADD', KEYS[1], items[i + 1], items[i]) end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return #items / 2
"""


class RedisUnavailable(ConfigError):
    """Redis cannot be reached (or the URL is not a Redis URL)."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def connect(url: str) -> redis.Redis:
    """A client for `url`, checked with a PING; RedisUnavailable with one clear line."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30,
                                      retry_on_timeout=True)
        client.ping()
    except ValueError as exc:
        raise RedisUnavailable(f"not a Redis URL: {url!r} ({exc})") from None
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from None
    return client


class Frontier:
    def __init__(self, client: redis.Redis, prefix: str = "archiver") -> None:
        self.client = client
        self.prefix = prefix
        self._pop = client.register_script(POP)
        self._requeue = client.register_script(REQUEUE)

    # -- keys ---------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def queue_key(self) -> str:
        return self.key("queue")

    @property
    def dupefilter_key(self) -> str:
        return self.key("dupefilter")

    def inflight_key(self, worker: str) -> str:
        return self.key("inflight", worker)

    # -- queue --------------------------------------------------------------
    def push(self, data: bytes, score: float) -> None:
        self.client.zadd(self.queue_key, {data: score})

    def pop(self, worker: str) -> tuple[bytes, float] | None:
        found = self._pop(keys=[self.queue_key, self.inflight_key(worker)])
        if not found:
            return None
        return found[0], float(found[1])

    def ack(self, worker: str, items: Iterable[bytes]) -> None:
        items = list(items)
        if items:
            self.client.zrem(self.inflight_key(worker), *items)

    def queued(self) -> int:
        return int(self.client.zcard(self.queue_key))

    def in_flight(self) -> int:
        """Requests popped by any registered worker and not finished yet."""
        workers = [w.decode() for w in self.client.smembers(self.key("workers"))]
        pipe = self.client.pipeline()
        for worker in workers:
            pipe.zcard(self.inflight_key(worker))
        return sum(pipe.execute()) if workers else 0

    # -- workers ------------------------------------------------------------
    def heartbeat(self, worker: str, ttl_ms: int) -> None:
        pipe = self.client.pipeline()
        pipe.sadd(self.key("workers"), worker)
        pipe.set(self.key("alive", worker), b"1", px=ttl_ms)
        pipe.execute()

    def requeue(self, worker: str, *, force: bool = False) -> int:
        """Put `worker`'s in-flight requests back in the queue (only if it is dead, unless
        `force`); -1 if it is alive."""
        return int(self._requeue(
            keys=[self.queue_key, self.inflight_key(worker), self.key("workers"),
                  self.key("alive", worker)],
            args=[worker, "1" if force else "0"]))

    def recover_dead(self, me: str) -> int:
        """Requeue the in-flight requests of every worker whose heartbeat expired."""
        moved = 0
        for raw in self.client.smembers(self.key("workers")):
            worker = raw.decode()
            if worker != me:
                moved += max(self.requeue(worker), 0)
        return moved

    def leave(self, worker: str) -> int:
        """A worker closing: what it did not finish goes back to the queue."""
        moved = self.requeue(worker, force=True)
        self.client.delete(self.key("alive", worker))
        return moved

    def reset(self) -> None:
        """Forget the previous crawl: queue, seen URLs, in-flight sets, seeds, limiter."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start:start + 500])
