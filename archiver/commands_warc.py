"""CLI for the WARC side of the archive: `archiver export wacz` and `archiver verify`.

`export` is a click group so every export format is a subcommand of its own
(`archiver export wacz`, later `archiver export articles --format jsonl|csv`);
`cli.py` registers both commands with `cli.add_command`. The work is done by
the pure modules `archiver.packaging` and `archiver.verify`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archiver.cli import ARCHIVE_OPTION, friendly
from archiver.config import ConfigError


def _existing_archive(archive: Path) -> None:
    if not (archive / "warcs").is_dir():
        raise ConfigError(f"{archive} is not an archive (no warcs/ folder in it)")


@click.group()
def export() -> None:
    """Export the archive in another format (see the subcommands)."""


@export.command("wacz")
@ARCHIVE_OPTION
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The .wacz file to write (default: ARCHIVE/export/<archive name>.wacz).")
@friendly
def export_wacz(archive: Path, output: Path | None) -> None:
    """Package the archive as WACZ 1.1 (WARCs, CDXJ index, pages with text, datapackage)."""
    from archiver.packaging import PackagingError
    from archiver.packaging import export_wacz as package

    _existing_archive(archive)
    target = output or archive / "export" / f"{archive.resolve().name}.wacz"
    try:
        result = package(archive, target)
    except PackagingError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"Wrote {result.path}: {result.warc_files} WARC files, {result.pages} pages")
    if result.skipped_open:
        click.echo(f"  left out {result.skipped_open} file(s) still being written (.open)",
                   err=True)


@click.command()
@ARCHIVE_OPTION
@click.option("--repair", is_flag=True,
              help="Trim a crashed crawl's torn tail, close its .open file, rewrite CDXJ.")
@friendly
def verify(archive: Path, repair: bool) -> None:
    """Re-read every WARC record and reconcile the WARCs with index.db; exit 1 on a problem."""
    from archiver.verify import verify_archive

    _existing_archive(archive)
    report = verify_archive(archive, repair=repair)
    for line in report.repaired:
        click.echo(f"repaired: {line}")
    for line in report.problems:
        click.echo(f"problem: {line}")
    click.echo(f"{report.files} WARC files, {report.records} records, {report.articles} "
               f"articles checked: " + ("no problems" if report.ok
                                        else f"{len(report.problems)} problem(s)"))
    if not report.ok:
        sys.exit(1)
