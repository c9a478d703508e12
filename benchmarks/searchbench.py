"""Search latency: `archiver search` over a synthetic index beside plain SQLite FTS5.

`build_index` writes DIR/index.db with the project's own schema (`Index`
runs the migrations) and rows made by `article_row` from synthetic
extraction fields (remixed demo-site text, seeded), inserted in
transactions of 1,000 rows so the FTS triggers fill `articles_fts`.
`DIR/plain.db` holds a plain FTS5 table with the same columns, tokenizer and
rows, filled in the same batches. Both are cached: rebuilt only when the
size, the seed or GENERATOR_VERSION change.

`time_queries` returns latencies (seconds) of the fixed query set for:
`Index.search` in-process, the plain `... where fts match ? order by rank
limit 10` in-process, `archiver search` as a subprocess (interpreter
start-up included) and, as that start-up's floor, the plain query run by a
fresh `python -c`.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from synthsite import Corpus, vary

from archiver.index import Index
from archiver.items import CaptureRef
from archiver.rows import article_row

GENERATOR_VERSION = 2
BATCH = 1000
QUERIES = [
    "Lukashenka", "Minsk", "economy", "Klaipeda", "Astravets",
    '"foreign policy"', '"Eurasian Economic Union"', "Minsk AND Vilnius",
    "Klaipeda NOT Astravets", "Belarus OR Ukraine", "sanction*", "Klaip*", "Suskievic",
    "Walesa", "language AND courses", "title:currency", '"national bank"',
    "opposition NOT election", "Курапаты", "Belarusian",
]
PLAIN_SQL = "select rowid, title from fts where fts match ? order by rank limit 10"
PLAIN_CHILD = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
    f"rows = c.execute({PLAIN_SQL!r}, (sys.argv[2],)).fetchall(); print(len(rows))"
)


def _rows(n: int, seed: int):
    corpus = Corpus()
    rng = random.Random(f"{seed}:search")
    pool = [vary(rng.choice(corpus.paragraphs), rng, corpus.vocab) for _ in range(20_000)]
    authors = [a["name"] for a in corpus.demo.authors.values()]
    for i in range(n):
        paras = [rng.choice(pool) for _ in range(rng.randint(3, 14))]
        title = vary(rng.choice(corpus.titles), rng, corpus.vocab, 0.3)
        url = f"https://bench.invalid/story/a-{i}/"
        extracted = {
            "canonical_url": url, "title": title, "text": "\n".join(paras),
            "word_count": sum(len(p.split()) for p in paras),
            "authors": rng.sample(authors, 1 + (rng.random() < 0.2)),
            "tags": rng.sample(corpus.tags, rng.randint(2, 4)),
            "categories": [rng.choice(sorted(corpus.demo.categories.values()))],
            "date_published": f"{2010 + i % 7}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "date_published_source": "json-ld", "language": "en", "site_name": "Bench",
        }
        capture = CaptureRef(url=url, warc_file="BENCH-00000.warc.gz", offset=i * 20_000,
                             length=20_000, record_id=f"<urn:uuid:{i:032x}>",
                             payload_digest="sha1:" + "A" * 32,
                             fetched_at="2026-01-01T00:00:00Z", status=200,
                             mime_type="text/html")
        yield article_row(extracted, capture, site="bench", source={"type": "sitemap"})


def build_index(folder: Path, n: int, seed: int = 7) -> dict[str, Any]:
    """DIR/index.db (project schema) and DIR/plain.db (plain FTS5), cached."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "meta.json"
    want = {"articles": n, "seed": seed, "version": GENERATOR_VERSION}
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == want \
            and (folder / "index.db").exists() and (folder / "plain.db").exists():
        return json.loads(meta_path.read_text())
    for name in ("index.db", "index.db-wal", "index.db-shm", "plain.db"):
        (folder / name).unlink(missing_ok=True)
    started = time.perf_counter()
    index = Index(folder / "index.db")
    plain = sqlite3.connect(folder / "plain.db")
    plain.execute("create virtual table fts using fts5(title, text, authors, tags, fold_terms, "
                  "tokenize='unicode61 remove_diacritics 2')")
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        stamp = "2026-01-01T00:00:00Z"
        with index.db.conn:
            index.db["articles"].insert_all([{**r, "indexed_at": stamp} for r in batch],
                                            batch_size=200)
        with plain:
            plain.executemany("insert into fts values (?, ?, ?, ?, ?)",
                              [(r["title"], r["text"], r["authors"], r["tags"], r["fold_terms"])
                               for r in batch])
        batch.clear()

    for row in _rows(n, seed):
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    count = index.count()
    index.db.conn.execute("pragma wal_checkpoint(truncate)")
    index.close()
    plain.close()
    meta = {"key": want, "rows": count, "build_seconds": round(time.perf_counter() - started, 1),
            "index_mb": round((folder / "index.db").stat().st_size / 1e6, 1),
            "plain_mb": round((folder / "plain.db").stat().st_size / 1e6, 1)}
    meta_path.write_text(json.dumps(meta))
    return meta


def _timed(func, reps: int) -> list[float]:
    func()  # warm the page cache and SQLite's
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        func()
        out.append(time.perf_counter() - t)
    return out


def time_queries(folder: Path, reps: int, cli_reps: int, env: dict[str, str] | None = None,
                 ) -> dict[str, list[float]]:
    index = Index(folder / "index.db", create=False)
    plain = sqlite3.connect(folder / "plain.db")
    hits: dict[str, int] = {}
    times: dict[str, list[float]] = {"archiver": [], "plain": [], "archiver_cli": [],
                                     "plain_cli": []}
    try:
        for q in QUERIES:
            hits[q] = len(index.search(q, limit=10))
            times["archiver"] += _timed(lambda q=q: index.search(q, limit=10), reps)
            times["plain"] += _timed(lambda q=q: plain.execute(PLAIN_SQL, (q,)).fetchall(), reps)
    finally:
        index.close()
        plain.close()
    cli = [sys.executable, "-m", "archiver", "search"]
    for q in QUERIES:
        for _ in range(cli_reps):
            for key, argv in (
                    ("archiver_cli", cli + [q, "--archive", str(folder), "--limit", "10"]),
                    ("plain_cli", [sys.executable, "-c", PLAIN_CHILD, str(folder / "plain.db"),
                                   q])):
                t = time.perf_counter()
                proc = subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL)
                times[key].append(time.perf_counter() - t)
                if proc.returncode != 0:
                    raise RuntimeError(f"{argv} failed: {proc.stderr.decode()[-500:]}")
    times["hits"] = [float(hits[q]) for q in QUERIES]
    return times


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
