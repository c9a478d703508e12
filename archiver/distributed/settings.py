"""The settings layer `--redis URL` puts over `archiver.settings` (distributed crawls).

The distributed area's defaults are in `archiver.settings` (`-s NAME=VALUE` overrides
them like any setting):

- ARCHIVER_REDIS_PREFIX: the key prefix of one crawl's frontier in Redis;
- ARCHIVER_REDIS_WORKER_ID: this worker's name (default `host-pid`); a worker restarted
  under the same name takes back at once what it had in flight;
- ARCHIVER_REDIS_HEARTBEAT_TTL: seconds without a heartbeat after which a worker is taken
  for dead and its in-flight requests are requeued;
- ARCHIVER_REDIS_KEEP_ALIVE: wait for more work instead of closing once the frontier is
  drained (`archiver worker --keep-alive`);
- ARCHIVER_REDIS_HOST_CONCURRENCY / ARCHIVER_REDIS_HOST_DELAY: the per-host limits all
  workers share (default: CONCURRENT_REQUESTS_PER_DOMAIN and DOWNLOAD_DELAY as set).

The layer turns the local, per-process politeness (DOWNLOAD_DELAY, AutoThrottle) off in
favour of the global limiter, and the per-worker index and extraction off (workers share
no index.db: `archiver reindex` over all workers' WARCs builds it, extracting each article
once).
"""

from __future__ import annotations

from scrapy.settings import Settings

from archiver.config import ConfigError

SCHEDULER = "archiver.distributed.scheduler.RedisScheduler"
LIMITER = "archiver.distributed.limiter.GlobalHostLimiter"
LIMITER_ORDER = 960  # last before the download handler: granted means sent


def apply_redis(settings: Settings, url: str) -> Settings:
    """Make `settings` those of a worker of the distributed crawl at `url`."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"--redis takes a redis://HOST:PORT/DB URL, got {url!r}")
    if settings.get("ARCHIVER_REDIS_HOST_CONCURRENCY") is None:
        settings.set("ARCHIVER_REDIS_HOST_CONCURRENCY",
                     settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"), priority="project")
    if settings.get("ARCHIVER_REDIS_HOST_DELAY") is None:
        settings.set("ARCHIVER_REDIS_HOST_DELAY", settings.getfloat("DOWNLOAD_DELAY"),
                     priority="project")
    for name in ("ARCHIVER_REDIS_HOST_DELAY", "ARCHIVER_REDIS_HEARTBEAT_TTL"):
        try:
            if settings.getfloat(name) < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"{name} must be a number >= 0, got {settings.get(name)!r}") from None
    if settings.getfloat("ARCHIVER_REDIS_HEARTBEAT_TTL") < 1:
        raise ConfigError("ARCHIVER_REDIS_HEARTBEAT_TTL must be >= 1 second")
    middlewares = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
    middlewares[LIMITER] = LIMITER_ORDER
    forced = {
        "REDIS_URL": url,
        "SCHEDULER": SCHEDULER,
        "DOWNLOADER_MIDDLEWARES": middlewares,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "ARCHIVER_INDEX_ENABLED": False,
        # no index here, so no extraction either: `archiver reindex` extracts, once
        "ITEM_PIPELINES": {},
    }
    for name, value in forced.items():
        settings.set(name, value, priority=100)  # above cmdline: the layer is the point
    return settings
