"""Scrapy spiders of digest-archiver (SPIDER_MODULES = ["spiders"])."""
