"""`archiver enqueue` and `archiver worker`: distributed crawls on Redis (click).

    archiver enqueue TARGET... --redis redis://HOST:6379/0     # sites + seeds into Redis
    archiver worker --redis redis://HOST:6379/0 --archive DIR  # on as many machines as you like
    archiver reindex --archive DIR                             # one index over all WARCs

Registered on the `archiver` group at the bottom of `archiver/cli.py`. A Redis that
cannot be reached is one line on stderr (`archiver: error: cannot reach Redis at ...`)
and exit status 2, like every other mistake.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from archiver.cli import ARCHIVE_OPTION, friendly, parse_overrides, sites_of, target_options
from archiver.config import ConfigError
from archiver.profiles import SiteProfile

REDIS_OPTION = click.option(
    "--redis", "redis_url", required=True, metavar="URL",
    help="The crawl's Redis, redis://HOST:PORT/DB.")
PREFIX_OPTION = click.option(
    "--prefix", default="archiver", show_default=True,
    help="Key prefix of the crawl in Redis (ARCHIVER_REDIS_PREFIX); one per concurrent crawl.")


def need_redis() -> None:
    """The `redis` extra is optional: say how to install it rather than a traceback."""
    try:
        import redis  # noqa: F401
        import scrapy_redis  # noqa: F401
    except ImportError:
        raise ConfigError("distributed crawls need the redis extra: "
                          "pip install 'digest-archiver[redis]'") from None


def enqueue_sites(url: str, prefix: str, sites: list[SiteProfile], reset: bool) -> int:
    """Push the sites; return how many requests were already queued."""
    need_redis()
    from archiver.distributed.frontier import Frontier, connect
    from archiver.distributed.sites import push_sites

    frontier = Frontier(connect(url), prefix)
    if reset:
        frontier.reset()
    push_sites(frontier, sites)
    return frontier.queued()


@click.command()
@target_options
@REDIS_OPTION
@PREFIX_OPTION
@click.option("--reset", is_flag=True,
              help="Forget the previous crawl under this prefix first (queue, seen URLs).")
@friendly
def enqueue(targets: tuple[str, ...], feeds: tuple[str, ...], sitemaps: tuple[str, ...],
            profiles: tuple[str, ...], redis_url: str, prefix: str, reset: bool) -> None:
    """Push TARGETs (site profiles and their seeds) into a distributed crawl's Redis."""
    sites = sites_of(targets, feeds, sitemaps, profiles)
    queued = enqueue_sites(redis_url, prefix, sites, reset)
    click.echo(f"enqueued {len(sites)} site(s) ({', '.join(s.name for s in sites)}) "
               f"into {redis_url} prefix {prefix!r}; {queued} requests already queued")


def work(redis_url: str, archive: Path, overrides: dict[str, str], keep_alive: bool,
         worker_id: str) -> None:
    need_redis()
    from archiver.distributed.worker import run_worker
    from archiver.runs import exit_status, failed_requests

    started = time.monotonic()
    result = run_worker(archive, redis_url, overrides, keep_alive=keep_alive,
                        worker_id=worker_id)
    stats = result.stats
    pages = int(stats.get("downloader/response_count", 0))
    click.echo(f"Worker {stats.get('finish_reason', 'unknown')} in "
               f"{time.monotonic() - started:.1f} s: {pages} pages fetched, "
               f"{stats.get('archiver/warc/records', 0)} exchanges archived in "
               f"{result.config.warc_dir}; log: {result.log_file}")
    # A worker that found the queue already drained has done nothing wrong, and a
    # --keep-alive worker only ever ends by being stopped (SIGTERM from its service manager).
    reason = str(stats.get("finish_reason", ""))
    if keep_alive and reason == "shutdown":
        reason = "finished"
    status = exit_status(reason, max(pages, 1),
                         int(stats.get("archiver/warc/write_error", 0)),
                         failed_requests(stats))
    if stats.get("archiver/failure") or status:
        click.echo(f"archiver: worker did not finish cleanly; see {result.log_file}", err=True)
        sys.exit(1)


@click.command()
@REDIS_OPTION
@PREFIX_OPTION
@ARCHIVE_OPTION
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a Scrapy or ARCHIVER_* setting (as `scrapy crawl -s`).")
@click.option("--keep-alive", is_flag=True,
              help="Wait for more work when the queue is drained instead of exiting.")
@click.option("--worker-id", default="", metavar="NAME",
              help="This worker's name (default host-pid); reuse it when restarting one.")
@friendly
def worker(redis_url: str, prefix: str, archive: Path, settings: tuple[str, ...],
           keep_alive: bool, worker_id: str) -> None:
    """Run one worker of a distributed crawl until its Redis frontier is drained."""
    overrides = parse_overrides(settings)
    overrides.setdefault("ARCHIVER_REDIS_PREFIX", prefix)
    work(redis_url, archive, overrides, keep_alive, worker_id)


def crawl_on_redis(redis_url: str, sites: list[SiteProfile], archive: Path,
                   overrides: dict[str, str]) -> None:
    """`archiver crawl TARGET... --redis URL`: enqueue the targets, then work here."""
    prefix = overrides.setdefault("ARCHIVER_REDIS_PREFIX", "archiver")
    enqueue_sites(redis_url, prefix, sites, reset=False)
    work(redis_url, archive, overrides, keep_alive=False, worker_id="")
