"""Distributed crawling on Redis (scrapy-redis): one frontier, many worker processes.

- `frontier`: the Redis keys of one crawl, a reliable priority queue (a popped request
  sits in its worker's in-flight set until its outcome is handled; a dead worker's
  in-flight requests go back to the queue), worker heartbeats, the connection check;
- `scheduler`: scrapy-redis' Scheduler and RFPDupeFilter adapted to Scrapy 2.19 and
  to that queue;
- `limiter`: a downloader middleware enforcing per-host concurrency and delay across
  all workers (the clock and the counters live in Redis);
- `sites`: site profiles as JSON in Redis (what `archiver enqueue` pushes);
- `settings`: the settings layer `--redis URL` puts on top of `archiver.settings`.
"""
