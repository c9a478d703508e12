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
    warc_operator: str
    extract_workers: int
    index_enabled: bool
    progress_interval: float

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
            warc_operator=str(settings.get("ARCHIVER_WARC_OPERATOR") or ""),
            extract_workers=workers or (os.cpu_count() or 1),
            index_enabled=settings.getbool("ARCHIVER_INDEX_ENABLED"),
            progress_interval=_float(settings, "ARCHIVER_PROGRESS_INTERVAL", minimum=0.0),
        )


def _int(settings: Any, name: str, *, minimum: int) -> int:
    try:
        value = int(settings.get(name))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {settings.get(name)!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(settings: Any, name: str, *, minimum: float) -> float:
    try:
        value = float(settings.get(name))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {settings.get(name)!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value
