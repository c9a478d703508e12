"""Imported once by the extraction pool's fork server, before it forks any worker.

Every worker then starts with trafilatura loaded and with the one-time set-up
of its date parser already done: the first time htmldate falls back to
dateparser, dateparser compiles the word tables of all its 200 locales (about
2 s of CPU). Paid here once, not once per worker: the workers inherit it.
"""

from __future__ import annotations

from htmldate.extractors import get_external_parser

import archiver.extraction  # noqa: F401 - loaded for the workers

# A string no locale can read makes dateparser build every locale's tables.
get_external_parser().get_date_data("digest-archiver worker warm-up")
