"""digest-archiver: a faithful, searchable archive of digest and news sites."""

__version__ = "0.1.0"
