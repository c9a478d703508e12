"""The index side of the command line: search, reindex, stats, export, serve."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click

from archiver.cli import ARCHIVE_OPTION, friendly
from archiver.config import ConfigError
from archiver.index import Index


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


@click.command()
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


@click.command()
@ARCHIVE_OPTION
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0, 256),
              help="Extraction processes; 0 = one per core.")
@click.option("--serial", is_flag=True, help="Extract in this process (no pool).")
@friendly
def reindex(archive: Path, workers: int, serial: bool) -> None:
    """Rebuild index.db from the WARC files alone, swapped in atomically."""
    from archiver.rebuild import rebuild
    from archiver.warc import warc_paths

    if not warc_paths(archive / "warcs"):
        raise ConfigError(f"no WARC files in {archive / 'warcs'}: nothing to rebuild from")
    started = time.monotonic()
    counts = rebuild(archive, workers=0 if serial else (workers or os.cpu_count() or 1))
    click.echo(f"Rebuilt {archive / 'index.db'} in {time.monotonic() - started:.1f} s: "
               + ", ".join(f"{n} {t}" for t, n in counts.items()))


@click.command()
@ARCHIVE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@friendly
def stats(archive: Path, as_json: bool) -> None:
    """Per-site article counts, date range, last crawl and WARC bytes."""
    from archiver.warc import warc_paths

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


@click.group(invoke_without_command=True)
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


@click.command()
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
