"""Politeness across workers: per-host concurrency and delay enforced in Redis (Scrapy glue).

Scrapy's own limits (CONCURRENT_REQUESTS_PER_DOMAIN, DOWNLOAD_DELAY, AutoThrottle) are
per process: N workers would hit a site N times harder. `GlobalHostLimiter` is a
downloader middleware placed right before the download handler: before a request goes
out it takes a slot for its host (`host:port`) in Redis, in one Lua script run on
Redis' clock (so workers on several machines agree on time):

- at most `ARCHIVER_REDIS_HOST_CONCURRENCY` requests to a host at once, all workers
  together (a slot is released when the response or error comes back, and expires on
  its own after DOWNLOAD_TIMEOUT + 30 s if its worker died);
- at least `ARCHIVER_REDIS_HOST_DELAY` seconds between two requests to a host.

A request waiting for its turn waits in this middleware (asyncio.sleep), holding only
its own place in the worker's downloader. The `--redis` settings layer sets the local
DOWNLOAD_DELAY to 0 and AutoThrottle off, so a granted request leaves at once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response

from archiver.distributed.frontier import Frontier, connect

META_TOKEN = "archiver_host_slot"

# KEYS: active zset, next-time key; ARGV: token, concurrency, delay ms, hold ms.
# Returns 0 when granted, else how many ms to wait before asking again.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
if nxt > now then return nxt - now end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
local delay = tonumber(ARGV[3])
if delay > 0 then redis.call('SET', KEYS[2], now + delay, 'PX', delay) end
return 0
"""

POLL = 0.02  # seconds between asks while the host is at its concurrency limit


def host_key(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc or parts.path).lower()


class GlobalHostLimiter:
    def __init__(self, frontier: Frontier, concurrency: int, delay: float,
                 hold: float) -> None:
        if concurrency < 1:
            raise NotConfigured("ARCHIVER_REDIS_HOST_CONCURRENCY must be >= 1")
        self.frontier = frontier
        self.concurrency = concurrency
        self.delay_ms = int(round(delay * 1000))
        self.hold_ms = int(hold * 1000)
        self._acquire = frontier.client.register_script(ACQUIRE)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> GlobalHostLimiter:
        s = crawler.settings
        if not s.get("REDIS_URL"):
            raise NotConfigured("no REDIS_URL: not a distributed crawl")
        frontier = Frontier(connect(s["REDIS_URL"]), s.get("ARCHIVER_REDIS_PREFIX") or "archiver")
        return cls(frontier, s.getint("ARCHIVER_REDIS_HOST_CONCURRENCY"),
                   s.getfloat("ARCHIVER_REDIS_HOST_DELAY"),
                   hold=s.getfloat("DOWNLOAD_TIMEOUT") + 30)

    def _keys(self, host: str) -> list[str]:
        return [self.frontier.key("host", host, "active"), self.frontier.key("host", host, "next")]

    async def process_request(self, request: Request) -> None:
        host = host_key(request.url)
        token = uuid.uuid4().hex
        while True:
            wait = int(self._acquire(keys=self._keys(host), args=[
                token, self.concurrency, self.delay_ms, self.hold_ms]))
            if wait == 0:
                break
            await asyncio.sleep(POLL if wait < 0 else wait / 1000)
        request.meta[META_TOKEN] = (host, token)
        return None

    def _release(self, request: Request) -> None:
        held = request.meta.pop(META_TOKEN, None)
        if held is not None:
            self.frontier.client.zrem(self._keys(held[0])[0], held[1])

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request)
        return response

    def process_exception(self, request: Request, exception: Exception) -> Any:
        self._release(request)
        return None
