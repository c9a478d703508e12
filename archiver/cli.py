"""The `archiver` command line (click). User mistakes end in one line on stderr."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from importlib import resources
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
    from archiver.runner import warc_files

    stats, cfg = result.stats, result.config
    files = warc_files(cfg.archive_dir)
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


def article_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """--site/--author/--tag/--since/--until, shared by search and export."""
    date = click.DateTime(formats=["%Y-%m-%d"])
    for option in reversed([
        click.option("--site", help="Only this site (profile name or host)."),
        click.option("--author", help="Only articles by this author (exact name)."),
        click.option("--tag", help="Only articles with this tag (exact, case-insensitive)."),
        click.option("--since", type=date, help="Published on or after YYYY-MM-DD."),
        click.option("--until", type=date, help="Published on or before YYYY-MM-DD."),
    ]):
        func = option(func)
    return func


def _filters(site: str | None, author: str | None, tag: str | None, since: Any,
             until: Any) -> dict[str, str | None]:
    return {"site": site, "author": author, "tag": tag,
            "since": since.date().isoformat() if since else None,
            "until": until.date().isoformat() if until else None}


@cli.command()
@click.argument("query")
@ARCHIVE_OPTION
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result.")
@article_filters
@friendly
def search(query: str, archive: Path, limit: int, as_json: bool, site: str | None,
           author: str | None, tag: str | None, since: Any, until: Any) -> None:
    """Full-text search (FTS5 syntax: "a phrase", AND/OR/NOT, prefix*), ranked by bm25."""
    index = Index(archive / "index.db", create=False)
    try:
        rows = index.search(query, limit=limit, **_filters(site, author, tag, since, until))
    finally:
        index.close()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        click.echo("no results", err=True)
        return
    for n, row in enumerate(rows, 1):
        date = (row["date_published"] or "")[:10]
        click.echo(f"{n}. {row['title']} ({date}) — {', '.join(row['authors'])}")
        click.echo(f"   {row['url']}")
        click.echo(f"   {' '.join(row['snippet'].split())}")


@cli.command()
@ARCHIVE_OPTION
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0, 256),
              help="Extraction processes; 0 = one per core.")
@click.option("--serial", is_flag=True, help="Extract in this process (no pool).")
@friendly
def reindex(archive: Path, workers: int, serial: bool) -> None:
    """Rebuild index.db from the WARC files alone, swapped in atomically."""
    from archiver.rebuild import rebuild, warc_paths

    if not warc_paths(archive / "warcs"):
        raise ConfigError(f"no WARC files in {archive / 'warcs'}: nothing to rebuild from")
    started = time.monotonic()
    counts = rebuild(archive, workers=0 if serial else (workers or os.cpu_count() or 1))
    click.echo(f"Rebuilt {archive / 'index.db'} in {time.monotonic() - started:.1f} s: "
               + ", ".join(f"{n} {t}" for t, n in counts.items()))


@cli.command()
@ARCHIVE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@friendly
def stats(archive: Path, as_json: bool) -> None:
    """Per-site article counts, date range, last crawl and WARC bytes."""
    from archiver.rebuild import warc_paths

    index = Index(archive / "index.db", create=False)
    try:
        report = index.stats()
    finally:
        index.close()
    files = warc_paths(archive / "warcs")
    report["warc_files"] = len(files)
    report["warc_bytes"] = sum(p.stat().st_size for p in files)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'site':30} {'articles':>8}  {'first':10}  {'last':10}  last fetched")
    for row in report["sites"]:
        click.echo(f"{row['site'] or '-':30} {row['articles']:>8}  {row['first'] or '-':10}  "
                   f"{row['last'] or '-':10}  {row['last_fetched'] or '-'}")
    last = report["last_crawl"]
    if last:
        click.echo(f"last crawl: {last['run_id']} finished {last['finished_at']} "
                   f"({last['finish_reason']}, {last['pages_fetched']} pages, "
                   f"{last['articles_new']} new, {last['articles_changed']} changed)")
    click.echo(f"WARC: {report['warc_files']} files, {report['warc_bytes'] / 1e6:.2f} MB; "
               f"captures: {report['captures']}; feed items: {report['feed_items']}")


@cli.group(invoke_without_command=True)
@ARCHIVE_OPTION
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="Format of the articles export.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
@article_filters
@click.pass_context
@friendly
def export(ctx: click.Context, archive: Path, fmt: str, output: Path | None, site: str | None,
           author: str | None, tag: str | None, since: Any, until: Any) -> None:
    """Export the articles (--format jsonl|csv, same filters as search), or: export wacz."""
    from archiver.exporting import write_articles

    if ctx.invoked_subcommand is not None:
        return  # `archiver export wacz ...`: the subcommand has its own options

    index = Index(archive / "index.db", create=False)
    try:
        rows = index.articles(**_filters(site, author, tag, since, until))
        if output is None:
            write_articles(rows, fmt, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as fh:
                write_articles(rows, fmt, fh)
    finally:
        index.close()


@cli.command()
@ARCHIVE_OPTION
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@friendly
def serve(archive: Path, port: int, host: str) -> None:
    """Open the archive's index in Datasette, articles searchable."""
    db = archive / "index.db"
    Index(db, create=False).close()  # a clear error if missing or foreign
    from archiver.datasette_meta import metadata

    config = archive / ".datasette"
    config.mkdir(exist_ok=True)
    (config / "metadata.json").write_text(json.dumps(metadata(), indent=2, ensure_ascii=False))
    plugins = Path(str(resources.files("archiver").joinpath("datasette_plugins")))
    click.echo(f"Datasette on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    sys.stderr.flush()
    # Become Datasette: signals (Ctrl-C, SIGTERM from a service manager) reach it directly.
    os.execv(sys.executable, [
        sys.executable, "-m", "datasette", "serve", str(db), "--host", host, "--port", str(port),
        "--metadata", str(config / "metadata.json"), "--plugins-dir", str(plugins),
        "--setting", "sql_time_limit_ms", "5000"])


def main() -> None:  # pragma: no cover - `python -m archiver`
    cli()


# WARC-side commands live in their own module (they reuse ARCHIVE_OPTION and friendly above).
from archiver.commands_warc import export as warc_export  # noqa: E402
from archiver.commands_warc import verify  # noqa: E402

for _name, _command in warc_export.commands.items():
    export.add_command(_command, _name)
cli.add_command(verify)

# Distributed crawls on Redis (archiver/commands_redis.py).
from archiver.commands_redis import enqueue, worker  # noqa: E402

cli.add_command(enqueue)
cli.add_command(worker)
