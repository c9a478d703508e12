"""The `archiver` command line (click). User mistakes end in one line on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from archiver import __version__
from archiver.config import ConfigError
from archiver.index import Index, IndexUnavailable, SearchError
from archiver.lock import EXIT_LOCKED, ArchiveLocked
from archiver.profiles import (
    ProfileError,
    SiteProfile,
    load_profile,
    profile_for_target,
    profile_for_urls,
)

ARCHIVE_OPTION = click.option(
    "--archive", type=click.Path(file_okay=False, path_type=Path), default=Path("archive"),
    show_default=True, help="Archive directory (warcs/, index.db, logs/).")

# The demo site is our own, on loopback: no need to be gentle with it.
DEMO_OVERRIDES = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False",
                  "CONCURRENT_REQUESTS_PER_DOMAIN": "8"}


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the archiver's own error types into one clear line and exit status 2."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, ProfileError, IndexUnavailable, SearchError) as exc:
            click.echo(f"archiver: error: {exc}", err=True)
            sys.exit(2)
        except ArchiveLocked as exc:
            click.echo(f"archiver: {exc}", err=True)
            sys.exit(EXIT_LOCKED)
    return wrapper


def parse_overrides(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint="-s")
        overrides[name.strip()] = setting
    return overrides


class ArchiverGroup(click.Group):
    """Click group whose usage errors are one line on stderr, like every other error."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("archiver: aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see: {exc.ctx.command_path} --help)"
            click.echo(f"archiver: error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=ArchiverGroup)
@click.version_option(__version__, prog_name="archiver")
def cli() -> None:
    """digest-archiver: crawl digest and news sites into WARC files and a searchable index."""


def _summary(result: Any, elapsed: float) -> None:
    from archiver.warc import warc_paths

    stats, cfg = result.stats, result.config
    files = warc_paths(cfg.warc_dir)
    size = sum(f.stat().st_size for f in files)
    articles = 0
    if cfg.index_path.exists():
        index = Index(cfg.index_path, create=False)
        articles = index.count()
        index.close()
    errors = stats.get("log_count/ERROR", 0)
    click.echo(f"Crawl {stats.get('finish_reason', 'unknown')} in {elapsed:.1f} s")
    click.echo(f"  pages fetched:    {stats.get('downloader/response_count', 0)}")
    click.echo(f"  articles indexed: {articles}")
    click.echo(f"  WARC files:       {len(files)} ({size / 1e6:.2f} MB) in {cfg.warc_dir}")
    click.echo(f"  index:            {cfg.index_path}")
    click.echo(f"  errors:           {errors}")
    click.echo(f"  log:              {result.log_file}")
    click.echo("Search it:")
    click.echo(f"  archiver search 'Klaipeda' --archive {cfg.archive_dir}")
    click.echo(f"  archiver serve --archive {cfg.archive_dir}   "
               "(Datasette on http://127.0.0.1:8001/)")


def _crawl(sites: list[SiteProfile], archive: Path, overrides: dict[str, str]) -> None:
    from archiver.runner import run_crawl

    started = time.monotonic()
    result = run_crawl(sites, archive, overrides)
    _summary(result, time.monotonic() - started)
    if not result.ok:
        if message := result.stats.get("archiver/warc/write_error_message"):
            click.echo(f"archiver: error: {message}; the crawl stopped (records and index rows "
                       f"written before are intact; see {result.log_file})", err=True)
        else:
            click.echo(f"archiver: crawl did not finish cleanly; see {result.log_file}",
                       err=True)
        sys.exit(1)


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """TARGET... --feed --sitemap --profile: what to crawl (crawl, enqueue)."""
    for option in reversed([
        click.argument("targets", nargs=-1),
        click.option("--feed", "feeds", multiple=True, metavar="URL",
                     help="Crawl this RSS/Atom feed."),
        click.option("--sitemap", "sitemaps", multiple=True, metavar="URL",
                     help="Crawl this sitemap."),
        click.option("--profile", "profiles", multiple=True, metavar="FILE",
                     help="A site profile TOML file of your own."),
    ]):
        func = option(func)
    return func


def sites_of(targets: tuple[str, ...], feeds: tuple[str, ...], sitemaps: tuple[str, ...],
             profiles: tuple[str, ...]) -> list[SiteProfile]:
    """The site profiles the target options name; a usage error when they name none."""
    sites = [profile_for_target(t) for t in targets]
    sites += [load_profile(p) for p in profiles]
    if feeds or sitemaps:
        sites.append(profile_for_urls(list(feeds), list(sitemaps)))
    if not sites:
        raise click.UsageError("give at least one TARGET, --feed, --sitemap or --profile")
    return sites


@cli.command()
@target_options
@ARCHIVE_OPTION
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a Scrapy or ARCHIVER_* setting (as `scrapy crawl -s`).")
@click.option("--recheck", is_flag=True, help="Fetch every known article again.")
@click.option("--backfill", is_flag=True, help="Walk every listing page, not just new ones.")
@click.option("--force", is_flag=True, help="Poll every feed, due or not.")
@click.option("--max-pages", type=click.IntRange(1), help="Stop after this many responses.")
@click.option("--max-duration", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Stop after this many seconds.")
@click.option("--redis", "redis_url", metavar="URL",
              help="Distributed: push the targets to this Redis and run one worker here.")
@friendly
def crawl(targets: tuple[str, ...], feeds: tuple[str, ...], sitemaps: tuple[str, ...],
          profiles: tuple[str, ...], archive: Path, settings: tuple[str, ...], recheck: bool,
          backfill: bool, force: bool, max_pages: int | None,
          max_duration: float | None, redis_url: str | None) -> None:
    """Crawl TARGETs: home URLs (https://site/) or built-in profile names (belarusdigest).

    Incremental by default: archived articles are not fetched again unless due for a
    re-check; feeds, sitemaps and listings are asked for with conditional requests.
    """
    overrides = parse_overrides(settings)
    for flag, name in ((recheck, "ARCHIVER_RECHECK"), (backfill, "ARCHIVER_BACKFILL"),
                       (force, "ARCHIVER_FORCE")):
        if flag:
            overrides[name] = "True"
    if max_pages:
        overrides["CLOSESPIDER_PAGECOUNT"] = str(max_pages)
    if max_duration:
        overrides["CLOSESPIDER_TIMEOUT"] = str(max_duration)
    sites = sites_of(targets, feeds, sitemaps, profiles)
    if redis_url:  # distributed (archiver/commands_redis.py)
        from archiver.commands_redis import crawl_on_redis

        return crawl_on_redis(redis_url, sites, archive, overrides)
    _crawl(sites, archive, overrides)


@cli.command()
@ARCHIVE_OPTION
@friendly
def demo(archive: Path) -> None:
    """Serve the bundled demo site on 127.0.0.1 and crawl it into the archive."""
    from archiver.demosite import DemoServer

    # The site's URLs include its port: serve on the port of the last demo into this
    # archive when it is free, so a second `archiver demo` updates the same articles
    # (an incremental crawl) instead of archiving a second copy under new URLs.
    remembered = archive / ".demo-port"
    try:
        port = int(remembered.read_text().strip())
        server = DemoServer(port=port).start()
    except (OSError, ValueError):
        server = DemoServer().start()
    try:
        click.echo(f"Demo site (a Belarus Digest look-alike) serving at {server.url}")
        archive.mkdir(parents=True, exist_ok=True)
        remembered.write_text(f"{server.port}\n")
        _crawl([profile_for_target(server.url)], archive, dict(DEMO_OVERRIDES))
    finally:
        server.stop()


def main() -> None:  # pragma: no cover - `python -m archiver`
    cli()


# WARC-side commands live in their own module (they reuse ARCHIVE_OPTION and friendly above).
from archiver.commands_index import export, reindex, search, serve, stats  # noqa: E402
from archiver.commands_warc import export as warc_export  # noqa: E402
from archiver.commands_warc import verify  # noqa: E402

for _command in (search, reindex, stats, export, serve):
    cli.add_command(_command)

for _name, _command in warc_export.commands.items():
    export.add_command(_command, _name)
cli.add_command(verify)

# Distributed crawls on Redis (archiver/commands_redis.py).
from archiver.commands_redis import enqueue, worker  # noqa: E402

cli.add_command(enqueue)
cli.add_command(worker)
