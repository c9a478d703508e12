"""Write article rows as JSON lines or CSV (pure): `archiver export --format jsonl|csv`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

LIST_COLUMNS = ("authors", "tags", "categories")


def write_articles(rows: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """JSON lines keep lists as lists; CSV joins them with "; ". Returns the row count."""
    count = 0
    writer: csv.DictWriter | None = None
    for row in rows:
        row = dict(row)
        for name in LIST_COLUMNS:
            row[name] = json.loads(row.get(name) or "[]")
        if fmt == "jsonl":
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            flat = {k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(flat))
                writer.writeheader()
            writer.writerow(flat)
        count += 1
    return count
