"""Validated digest-archiver configuration, built once from Scrapy settings.

Components call `ArchiverConfig.from_settings(crawler.settings)` in their
`from_crawler` and pass plain values on to `__init__`. Bad values raise
`ConfigError` with a message fit for one line on stderr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the archiver cannot use."""


@dataclass(frozen=True)
class ArchiverConfig:
    archive_dir: Path
    warc_prefix: str
    warc_max_size: int
    warc_gzip_level: int
    warc_operator: str
    extract_workers: int
    index_enabled: bool
    progress_interval: float
    # Robustness and politeness (archiver/retry.py, politeness.py, traps.py)
    retry_backoff: float = 1.0
    retry_backoff_max: float = 60.0
    retry_after_max: float = 300.0
    crawl_delay_max: float = 60.0
    trap_max_path_segments: int = 12
    trap_max_segment_repeats: int = 2
    trap_max_query_variants: int = 50
    trap_max_shape_urls: int = 1000

    @property
    def warc_dir(self) -> Path:
        return self.archive_dir / "warcs"

    @property
    def index_path(self) -> Path:
        return self.archive_dir / "index.db"

    @property
    def log_dir(self) -> Path:
        return self.archive_dir / "logs"

    @classmethod
    def from_settings(cls, settings: Any) -> ArchiverConfig:
        prefix = str(settings.get("ARCHIVER_WARC_PREFIX") or "")
        if not prefix or any(c in prefix for c in "/\\ -"):
            raise ConfigError(
                f"ARCHIVER_WARC_PREFIX must be a non-empty name without '/', '\\', '-' "
                f"or spaces, got {prefix!r}"
            )
        workers = _int(settings, "ARCHIVER_EXTRACT_WORKERS", minimum=0)
        return cls(
            archive_dir=Path(str(settings.get("ARCHIVER_ARCHIVE_DIR") or "archive")),
            warc_prefix=prefix,
            warc_max_size=_int(settings, "ARCHIVER_WARC_MAX_SIZE", minimum=1),
            warc_gzip_level=_int(settings, "ARCHIVER_WARC_GZIP_LEVEL", minimum=1, maximum=9),
            warc_operator=str(settings.get("ARCHIVER_WARC_OPERATOR") or ""),
            extract_workers=workers or (os.cpu_count() or 1),
            index_enabled=settings.getbool("ARCHIVER_INDEX_ENABLED"),
            progress_interval=_float(settings, "ARCHIVER_PROGRESS_INTERVAL", minimum=0.0),
            retry_backoff=_float(settings, "ARCHIVER_RETRY_BACKOFF", minimum=0.0),
            retry_backoff_max=_float(settings, "ARCHIVER_RETRY_BACKOFF_MAX", minimum=0.0),
            retry_after_max=_float(settings, "ARCHIVER_RETRY_AFTER_MAX", minimum=0.0),
            crawl_delay_max=_float(settings, "ARCHIVER_CRAWL_DELAY_MAX", minimum=0.0),
            trap_max_path_segments=_int(settings, "ARCHIVER_TRAP_MAX_PATH_SEGMENTS", minimum=1),
            trap_max_segment_repeats=_int(settings, "ARCHIVER_TRAP_MAX_SEGMENT_REPEATS",
                                          minimum=1),
            trap_max_query_variants=_int(settings, "ARCHIVER_TRAP_MAX_QUERY_VARIANTS",
                                         minimum=0),
            trap_max_shape_urls=_int(settings, "ARCHIVER_TRAP_MAX_SHAPE_URLS", minimum=1),
        )


def _int(settings: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(settings.get(name))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {settings.get(name)!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _float(settings: Any, name: str, *, minimum: float) -> float:
    try:
        value = float(settings.get(name))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {settings.get(name)!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value
