"""Datasette plugin loaded by `archiver serve`: every record id links to its raw WARC record.

`/-/capture?id=<WARC-Record-ID>` answers with the exact bytes of that record
as stored (one gzip member: itself a valid one-record `.warc.gz`), found
through `captures` and read from the archive's `warcs/` folder beside the
database. Record ids in tables and query results render as download links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from datasette import Response, hookimpl
from markupsafe import Markup, escape

SAFE_NAME = re.compile(r"^[A-Za-z0-9._~-]+\.warc\.gz$")


async def capture_view(datasette, request) -> Response:
    record_id = request.args.get("id", "")
    database = datasette.get_database("index")
    result = await database.execute(
        "select warc_file, warc_offset, warc_length from captures where record_id = ?",
        [record_id])
    row = result.first()
    if row is None:
        return Response.text(f"no capture with record id {record_id}", status=404)
    name, offset, length = row
    warcs = Path(database.path).parent / "warcs"
    path = warcs / name
    if not SAFE_NAME.match(name):
        return Response.text("bad WARC file name", status=400)
    if not path.exists() and (warcs / (name + ".open")).exists():
        path = warcs / (name + ".open")
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
    except OSError as exc:
        return Response.text(f"cannot read {name}: {exc.strerror}", status=404)
    return Response(data, content_type="application/warc", headers={
        "content-disposition": f'attachment; filename="{name[:-8]}-{offset}.warc.gz"'})


@hookimpl
def register_routes():
    return [(r"^/-/capture$", capture_view)]


@hookimpl
def render_cell(value, column):
    if column == "record_id" and isinstance(value, str) and value.startswith("<urn:"):
        href = "/-/capture?id=" + quote(value, safe="")
        return Markup(f'<a href="{href}" title="download the WARC record">{escape(value)}</a>')
    return None
