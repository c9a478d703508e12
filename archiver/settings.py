"""Scrapy project settings and every ARCHIVER_* default, in one place.

`archiver crawl` and `scrapy crawl digest` both start from this module
(scrapy.cfg points here). Every custom setting is validated by
`archiver.config.ArchiverConfig.from_settings`; the README's settings table is
checked against this file by the test suite.
"""

from __future__ import annotations

from archiver import __version__

BOT_NAME = "digest-archiver"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# --- Politeness (Scrapy's own machinery) -------------------------------------
# Identify ourselves with a contact URL, obey robots.txt, stay gentle per host.
USER_AGENT = (
    f"digest-archiver/{__version__} (+https://github.com/digest-archiver/digest-archiver)"
)
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# AutoThrottle adapts the delay to the server's latency; DOWNLOAD_DELAY is its floor.
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

# robots.txt Crawl-delay / Request-rate become the host's minimum delay (archiver/politeness.py).
ARCHIVER_OBEY_CRAWL_DELAY = True
# A longer Crawl-delay than this many seconds is capped (and logged).
ARCHIVER_CRAWL_DELAY_MAX = 60.0

# --- Robustness ----------------------------------------------------------------
# 5xx, 408, 429 and network failures (timeouts, resets, cut bodies) are retried by
# archiver.retry.BackoffRetryMiddleware (Scrapy's RetryMiddleware plus waits).
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# Seconds before the first retry, doubled for each further one, at most ..._MAX.
ARCHIVER_RETRY_BACKOFF = 1.0
ARCHIVER_RETRY_BACKOFF_MAX = 60.0
# A 429/503 Retry-After is waited for when it asks for at most this many seconds;
# a longer one is not retried in this crawl.
ARCHIVER_RETRY_AFTER_MAX = 300.0
# The slowest page we wait for (seconds), and the biggest we take (bytes; a bigger one is
# archived cut, with WARC-Truncated: length, and not indexed).
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_MAXSIZE = 64 * 1024 * 1024
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
# Redirect chains are followed (each hop archived) up to this many hops; loops stop.
REDIRECT_MAX_TIMES = 10
# 0 = no depth limit: links are only followed when they match the site profile's
# article or listing patterns, which bounds the crawl. CLOSESPIDER_PAGECOUNT (0 = none)
# stops a crawl after that many responses (`archiver crawl --max-pages`).
DEPTH_LIMIT = 0
CLOSESPIDER_PAGECOUNT = 0
# URLs longer than this are not followed (Scrapy's UrlLengthMiddleware).
URLLENGTH_LIMIT = 2000
# Crawler traps (archiver/traps.py): link-following never goes deeper than this many path
# segments, into a path repeating one segment more than ..._REPEATS times, into more
# query-string variants of one path than ..._QUERY_VARIANTS (numbers aside: facets), or
# into more URLs of one shape (digits aside: calendars, pagers) than ..._SHAPE_URLS.
ARCHIVER_TRAP_MAX_PATH_SEGMENTS = 12
ARCHIVER_TRAP_MAX_SEGMENT_REPEATS = 2
ARCHIVER_TRAP_MAX_QUERY_VARIANTS = 50
ARCHIVER_TRAP_MAX_SHAPE_URLS = 1000

DOWNLOADER_MIDDLEWARES = {
    # Exact host names only (another name on the same server is off-site); no forms.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "archiver.traps.ExactOffsiteMiddleware": 50,
    # robots.txt Crawl-delay, right after Scrapy's RobotsTxtMiddleware (100) parsed it.
    "archiver.politeness.RobotsCrawlDelay": 101,
    # Retries wait: exponential backoff, Retry-After.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "archiver.retry.BackoffRetryMiddleware": 550,
}
SPIDER_MIDDLEWARES = {
    # Canonical URLs, on-site only, no forms, traps bounded, before anything is scheduled.
    "archiver.traps.TrapGuard": 950,
}

# --- Engine --------------------------------------------------------------------
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Outputs of one callback processed in parallel. A page yields one item and a handful of
# new requests; Scrapy starts this many asyncio tasks per response (its default: 100)
# to process them. Only the item waits (for extraction); requests go straight to the
# scheduler, so 4 is plenty, and 12 fewer tasks per page is ~5 % of the crawler's CPU.
CONCURRENT_ITEMS = 4
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

# HTTP/1.1 as Scrapy's, also keeping the raw status line and headers and the head of a
# body cut by DOWNLOAD_MAXSIZE for the WARC (archiver/handler.py).
DOWNLOAD_HANDLERS = {
    "http": "archiver.handler.ArchivingHTTP11DownloadHandler",
    "https": "archiver.handler.ArchivingHTTP11DownloadHandler",
}

EXTENSIONS = {
    # Writes every HTTP exchange to WARC at `response_downloaded`.
    "archiver.capture.WarcCapture": 0,
    # Live progress line on a terminal, summary at the end.
    "archiver.progress.Progress": 500,
}
ITEM_PIPELINES = {
    "archiver.pipelines.ExtractPipeline": 300,
    "archiver.pipelines.IndexPipeline": 800,
}

# --- digest-archiver -------------------------------------------------------------
# Where WARCs (warcs/), the index (index.db) and logs (logs/) go.
ARCHIVER_ARCHIVE_DIR = "archive"
# WARC writing: the area cannot be switched off (WARC first, index second).
ARCHIVER_WARC_PREFIX = "ARCHIVER"
# Rotate to a new file once a file reaches this many bytes (never inside an exchange).
ARCHIVER_WARC_MAX_SIZE = 1_000_000_000
# gzip level of each record (1 fastest .. 9 smallest); 6 is zlib's own default.
ARCHIVER_WARC_GZIP_LEVEL = 6
# Who runs the crawl: goes into every warcinfo record ("operator").
ARCHIVER_WARC_OPERATOR = ""
# Extraction: number of worker processes; 0 = one per core.
ARCHIVER_EXTRACT_WORKERS = 0
# Indexing into DIR/index.db; False crawls into WARC only (rebuild later with reindex).
ARCHIVER_INDEX_ENABLED = True
# Seconds between progress lines on a terminal; 0 disables live progress.
ARCHIVER_PROGRESS_INTERVAL = 2.0

# --- Scheduled, incremental crawls ---------------------------------------------------
# Use what the index knows: skip archived articles not due, conditional requests for
# feeds, sitemaps and listings, revisit records for unchanged pages. False = fetch all.
ARCHIVER_INCREMENTAL = True
# Re-fetch every known article (`archiver crawl --recheck`).
ARCHIVER_RECHECK = False
# Walk every listing page instead of stopping at the first page of known articles (`--backfill`).
ARCHIVER_BACKFILL = False
# Poll every feed even when its schedule says it is not due (`--force`).
ARCHIVER_FORCE = False
# Articles published less than this many days ago are re-checked for edits...
ARCHIVER_RECHECK_WINDOW_DAYS = 7.0
# ...at most once per this many hours.
ARCHIVER_RECHECK_INTERVAL_HOURS = 24.0
# A feed is polled again after this many seconds, doubled for each poll that found it
# unchanged, up to ARCHIVER_FEED_MAX_INTERVAL; a change brings it back to the minimum.
ARCHIVER_FEED_MIN_INTERVAL = 1800
ARCHIVER_FEED_MAX_INTERVAL = 86400


# --- Distributed crawls on Redis (`--redis URL`; archiver/distributed/) ---------------
# Key prefix of one crawl's frontier (queue, seen URLs, in-flight requests, sites) in Redis.
ARCHIVER_REDIS_PREFIX = "archiver"
# This worker's name; empty = host-pid. A worker restarted under the same name takes back
# at once the requests it had in flight.
ARCHIVER_REDIS_WORKER_ID = ""
# Seconds without a heartbeat after which a worker is taken for dead and its in-flight
# requests go back to the queue.
ARCHIVER_REDIS_HEARTBEAT_TTL = 15.0
# Keep waiting for work once the frontier is drained (`archiver worker --keep-alive`).
ARCHIVER_REDIS_KEEP_ALIVE = False
# Per-host limits shared by all workers; None = CONCURRENT_REQUESTS_PER_DOMAIN and
# DOWNLOAD_DELAY as set (which the distributed layer turns off per worker).
ARCHIVER_REDIS_HOST_CONCURRENCY = None
ARCHIVER_REDIS_HOST_DELAY = None
