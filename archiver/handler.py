"""Scrapy glue: an HTTP/1.1 download handler that keeps what the WARC needs from the wire.

Scrapy's handler rebuilds a `Headers` object from Twisted's parsed response:
the reason phrase, header-name case, header order and the connection headers
(Connection, Keep-Alive, Transfer-Encoding, Content-Length) are gone by then,
and a body over `DOWNLOAD_MAXSIZE` is dropped. This handler behaves exactly
like Scrapy's otherwise, and additionally:

- records the status line and header lines byte for byte as the parser read
  them, and leaves them in `request.meta["archiver_wire"]` (a `WireHead`) for
  the capture extension, which pops it at `response_downloaded`;
- when a body is cut by `DOWNLOAD_MAXSIZE` (announced or not) or the
  connection drops before the end, sends the `partial_response` signal with
  the bytes received so far (at most the limit) and the WARC-Truncated reason
  ("length", "disconnect"), then fails the request just as Scrapy would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag

from scrapy import Request, signals
from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
    _ResponseReader,
    _ResultT,
    _ScrapyAgent,
)
from scrapy.exceptions import ResponseDataLossError
from scrapy.http import Response
from scrapy.utils._download_handlers import (
    check_stop_download,
    get_dataloss_msg,
    get_maxsize_msg,
    get_warnsize_msg,
    make_response,
    wrap_twisted_exceptions,
)
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web._newclient import STATUS, ResponseFailed
from twisted.web._newclient import Request as TxRequest
from twisted.web.client import Response as TxResponse
from twisted.web.http import _DataLoss
from twisted.web.iweb import UNKNOWN_LENGTH

logger = logging.getLogger(__name__)

META_WIRE = "archiver_wire"
# Sent with `response` (the partial body), `request`, `spider` and `reason`.
partial_response = object()


@dataclass(frozen=True)
class WireHead:
    """The response head as received: status line and header lines, raw bytes."""

    lines: tuple[bytes, ...]  # each line without its "\n" ("\r" kept if it was sent)
    request_head: bytes | None = None  # request line and headers exactly as written

    @property
    def phrase(self) -> str:
        parts = self.lines[0].rstrip(b"\r").split(b" ", 2) if self.lines else []
        return parts[2].decode("latin-1") if len(parts) == 3 else ""


class _RecordingParser(_LenientHTTPClientParser):
    """Scrapy's lenient parser, also keeping the raw head lines on the response."""

    def lineReceived(self, line: bytes) -> None:
        if self.state == STATUS:
            self._archiver_lines: list[bytes] = []
        self._archiver_lines.append(line)
        if line in (b"", b"\r"):  # end of the head; a 1xx head is discarded by Twisted
            response = getattr(self, "response", None)
            if response is not None:
                sent = getattr(self.request, "_archiver_sent", None)
                response._archiver_head = WireHead(tuple(self._archiver_lines), sent)
        super().lineReceived(line)


class _SentRecorder:
    """Stands in for the transport while Twisted writes a request head."""

    def __init__(self, transport: Any, request: Any) -> None:
        self.transport, self.request = transport, request

    def writeSequence(self, data: list[bytes]) -> None:
        self.request._archiver_sent = b"".join(data)
        self.transport.writeSequence(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _RecordingRequest(TxRequest):
    def _writeHeaders(self, transport: Any, TEorCL: bytes | None) -> None:  # noqa: N803
        super()._writeHeaders(_SentRecorder(transport, self), TEorCL)


class _RecordingProtocol(_LenientHTTP11ClientProtocol):
    def request(self, request: Any) -> Deferred:
        if type(request) is TxRequest:
            request.__class__ = _RecordingRequest
        d = super().request(request)
        assert self._parser is not None
        self._parser.__class__ = _RecordingParser
        return d


class _RecordingFactory(_LenientHTTP11ClientFactory):
    def buildProtocol(self, addr: Any) -> _RecordingProtocol:
        return _RecordingProtocol(self._quiescentCallback)


def _response(txresponse: TxResponse, url: str, body: bytes, **kw: Any) -> Response:
    headers = _ScrapyAgent._headers_from_twisted_response(txresponse)
    version = txresponse.version
    protocol = f"{version[0].decode()}/{version[1]}.{version[2]}"
    return make_response(url=url, status=int(txresponse.code), headers=headers, body=body,
                         protocol=protocol, **kw)


def _remember_head(txresponse: TxResponse, request: Request) -> None:
    head = getattr(txresponse, "_archiver_head", None)
    if head is not None:
        request.meta[META_WIRE] = head


class _ArchivingReader(_ResponseReader):
    """Scrapy's body reader; a cut or lost body is first handed to the archive."""

    def _archive_partial(self, reason: str) -> None:
        body = self._bodybuf.getvalue()
        if self._maxsize:
            body = body[: self._maxsize]
        _remember_head(self._txresponse, self._request)
        response = _response(self._txresponse, urldefrag(self._request.url)[0], body,
                             flags=[f"truncated:{reason}"], certificate=self._certificate,
                             ip_address=self._ip_address)
        self._crawler.signals.send_catch_log(
            partial_response, response=response, request=self._request,
            spider=self._crawler.spider, reason=reason)

    def dataReceived(self, data: bytes) -> None:
        if not self._finished.called and self._maxsize and (
                self._bytes_received + len(data) > self._maxsize):
            self._bodybuf.write(data)
            self._archive_partial("length")
            self._bytes_received += len(data)
            logger.warning(get_maxsize_msg(self._bytes_received, self._maxsize, self._request,
                                           expected=False))
            self._bodybuf.truncate(0)
            self._finished.cancel()
            return
        super().dataReceived(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if (reason is not None and self._fail_on_dataloss and not self._finished.called
                and reason.check(ResponseFailed)
                and any(r.check(_DataLoss) for r in reason.value.reasons)):
            self._archive_partial("disconnect")
        super().connectionLost(reason) if reason is not None else super().connectionLost()


class _ArchivingAgent(_ScrapyAgent):
    head: WireHead | None = None

    def _cb_bodyready(self, txresponse: TxResponse, request: Request) -> Any:
        """Scrapy's `_cb_bodyready`, except that an announced oversize body is read
        up to the limit (so its head can be archived) before the download fails."""
        if stop_download := check_stop_download(
            signals.headers_received, self._crawler, request,
            headers=self._headers_from_twisted_response(txresponse),
            body_length=txresponse.length,
        ):
            txresponse._transport.stopProducing()
            txresponse._transport.loseConnection()
            return {"txresponse": txresponse, "stop_download": stop_download}
        if txresponse.length == 0:
            return {"txresponse": txresponse,
                    "certificate": getattr(txresponse, "_scrapy_certificate", None),
                    "ip_address": getattr(txresponse, "_scrapy_ip_address", None)}
        maxsize = request.meta.get("download_maxsize", self._maxsize)
        warnsize = request.meta.get("download_warnsize", self._warnsize)
        expected = txresponse.length if txresponse.length != UNKNOWN_LENGTH else -1
        fail_on_dataloss = request.meta.get("download_fail_on_dataloss",
                                            self._fail_on_dataloss)
        if maxsize and expected > maxsize:
            logger.warning(get_maxsize_msg(expected, maxsize, request, expected=True))
        reached_warnsize = bool(warnsize and expected > warnsize)
        if reached_warnsize and not (maxsize and expected > maxsize):
            logger.warning(get_warnsize_msg(expected, warnsize, request, expected=True))
        d: Deferred[_ResultT] = Deferred(lambda _: self._cancel(_, txresponse))
        txresponse.deliverBody(_ArchivingReader(
            finished=d, txresponse=txresponse, request=request, maxsize=maxsize,
            warnsize=warnsize, reached_warnsize=reached_warnsize,
            fail_on_dataloss=fail_on_dataloss, crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        ))
        self._txresponse = txresponse
        return d

    def _cb_bodydone(self, result: _ResultT, url: str) -> Response:
        self.head = getattr(result["txresponse"], "_archiver_head", None)
        return super()._cb_bodydone(result, url)


class ArchivingHTTP11DownloadHandler(HTTP11DownloadHandler):
    """`DOWNLOAD_HANDLERS` entry for http and https (see archiver/settings.py)."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self._pool._factory = _RecordingFactory

    async def download_request(self, request: Request) -> Response:
        spider = self._crawler.spider
        agent = _ArchivingAgent(
            contextFactory=self._contextFactory, bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=getattr(spider, "download_maxsize", self._default_maxsize),
            warnsize=getattr(spider, "download_warnsize", self._default_warnsize),
            fail_on_dataloss=self._fail_on_dataloss, crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        try:
            with wrap_twisted_exceptions():
                response = await maybe_deferred_to_future(agent.download_request(request))
        except ResponseDataLossError:
            if not self._fail_on_dataloss_warned:
                logger.warning(get_dataloss_msg(request.url))
                self._fail_on_dataloss_warned = True
            raise
        if agent.head is not None:
            request.meta[META_WIRE] = agent.head
        return response
