"""scrapy-redis' scheduler, dupefilter and priority queue, adapted (Scrapy glue).

scrapy-redis 0.9.1 predates Scrapy 2.13+: its scheduler passes `spider=` to the stats,
its queue forgets a request the moment it is popped (a worker killed then loses it) and
its dupefilter deletes the shared fingerprints when one worker closes. The subclasses
here keep its Redis layout (a sorted set of pickled `Request.to_dict()`s scored by
-priority, a set of fingerprints) and add:

- leases: a popped request moves to this worker's in-flight set (`Frontier.pop`); it is
  acked once the engine has handled its outcome (the response went through the callback
  and what it yielded is scheduled, or a redirect/retry is back in the queue, or it
  failed); what is still in flight at close goes back to the queue;
- heartbeats: a worker that stops refreshing its `alive` key is taken for dead and its
  in-flight requests are requeued by whichever worker looks next (at start, when idle);
- a crawl that ends when the frontier is drained: a worker whose engine is idle stays
  open while the queue or any worker's in-flight set is not empty, so a URL another
  worker is about to discover is not orphaned (`ARCHIVER_REDIS_KEEP_ALIVE`: never close).
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request
from scrapy_redis import picklecompat
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from archiver.distributed.frontier import Frontier, connect, default_worker_id

logger = logging.getLogger(__name__)


class SharedDupeFilter(RFPDupeFilter):
    """scrapy-redis' fingerprint set, shared by all workers: never cleared by one of them."""

    def close(self, reason: str = "") -> None:
        pass


class LeasedQueue(PriorityQueue):
    """scrapy-redis' PriorityQueue whose pop leaves the request in the worker's in-flight set."""

    def __init__(self, server: Any, spider: Any, frontier: Frontier, worker: str) -> None:
        super().__init__(server, spider, frontier.queue_key, serializer=picklecompat)
        self.frontier = frontier
        self.worker = worker

    def push(self, request: Request) -> None:
        self.frontier.push(self._encode_request(request), -request.priority)

    def lease(self) -> tuple[Request, bytes] | None:
        found = self.frontier.pop(self.worker)
        if found is None:
            return None
        return self._decode_request(found[0]), found[0]


class RedisScheduler(Scheduler):
    def __init__(self, server: Any, *, frontier: Frontier, worker: str, ttl: float,
                 keep_alive: bool, crawler: Crawler, dupefilter: SharedDupeFilter) -> None:
        super().__init__(server, persist=True, queue_key=frontier.queue_key,
                         dupefilter=dupefilter, dupefilter_key=frontier.dupefilter_key,
                         serializer=picklecompat)
        self.frontier = frontier
        self.worker = worker
        self.ttl = ttl
        self.keep_alive = keep_alive
        self.crawler = crawler
        self.stats = crawler.stats
        self.leases: dict[bytes, Request] = {}
        self._loops: list[LoopingCall] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        s = crawler.settings
        client = connect(s["REDIS_URL"])
        frontier = Frontier(client, s.get("ARCHIVER_REDIS_PREFIX") or "archiver")
        dupefilter = SharedDupeFilter(client, key=frontier.dupefilter_key,
                                      debug=s.getbool("DUPEFILTER_DEBUG"))
        scheduler = cls(client, frontier=frontier,
                        worker=s.get("ARCHIVER_REDIS_WORKER_ID") or default_worker_id(),
                        ttl=s.getfloat("ARCHIVER_REDIS_HEARTBEAT_TTL"),
                        keep_alive=s.getbool("ARCHIVER_REDIS_KEEP_ALIVE"), crawler=crawler,
                        dupefilter=dupefilter)
        crawler.signals.connect(scheduler.spider_idle, signal=signals.spider_idle)
        return scheduler

    # -- lifecycle ----------------------------------------------------------
    def open(self, spider: Any) -> None:
        self.spider = spider
        self.queue = LeasedQueue(self.server, spider, self.frontier, self.worker)
        # A restarted worker with a fixed id takes back what it had in flight; anyone's
        # dead peers' in-flight requests go back to the queue.
        mine = self.frontier.requeue(self.worker, force=True)
        self.frontier.heartbeat(self.worker, int(self.ttl * 1000))
        dead = self.frontier.recover_dead(self.worker)
        if mine or dead:
            logger.warning("requeued %d requests left in flight by stopped workers",
                           mine + dead)
            self.stats.inc_value("archiver/redis/requeued", mine + dead)
        logger.info("worker %s on the Redis frontier %s: %d requests queued", self.worker,
                    self.frontier.prefix, len(self.queue))
        for call, interval in ((self.beat, self.ttl / 3), (self.sweep, 0.25)):
            loop = LoopingCall(call)
            loop.start(interval, now=False)
            self._loops.append(loop)

    def close(self, reason: str) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self.sweep()
        moved = self.frontier.leave(self.worker)
        if moved > 0:
            logger.info("put %d unfinished requests back in the queue", moved)

    def beat(self) -> None:
        self.frontier.heartbeat(self.worker, int(self.ttl * 1000))

    # -- queue ----------------------------------------------------------------
    def enqueue_request(self, request: Request) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Request | None:
        # The engine asks right after a request is done with: ack it now, so a kill
        # leaves as little as possible marked in flight (to be fetched again).
        self._ack_finished()
        found = self.queue.lease()
        if found is None:
            return None
        request, data = found
        self.leases[data] = request
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        return len(self.queue) > 0

    # -- leases ---------------------------------------------------------------
    def _active(self, request: Request) -> bool:
        """Is the engine still handling this request (download, callback, its output)?"""
        engine = self.crawler.engine
        if engine is None:
            return False
        # The engine's own in-progress set spans download, scraping and scheduling of the
        # callback's output; the public downloader/scraper sets are a fallback.
        slot = getattr(engine, "_slot", None)
        if slot is not None and request in getattr(slot, "inprogress", ()):
            return True
        scraper_slot = engine.scraper.slot
        return request in engine.downloader.active or (
            scraper_slot is not None and request in scraper_slot.active)

    def _ack_finished(self) -> None:
        done = [data for data, request in self.leases.items() if not self._active(request)]
        if done:
            self.frontier.ack(self.worker, done)
            for data in done:
                del self.leases[data]

    def sweep(self) -> None:
        """Ack the leases whose requests the engine has finished with; wake an idle
        engine, so it sees at once what other workers queued, or that the crawl is over
        (Scrapy's own idle check runs every 5 s)."""
        self._ack_finished()
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None) if engine is not None else None
        if slot is not None and not self.leases:
            slot.nextcall.schedule()

    def spider_idle(self) -> None:
        self.sweep()
        moved = self.frontier.recover_dead(self.worker)
        if moved:
            logger.warning("requeued %d requests left in flight by dead workers", moved)
            self.stats.inc_value("archiver/redis/requeued", moved)
        if self.keep_alive or self.frontier.queued() or self.frontier.in_flight():
            raise DontCloseSpider
