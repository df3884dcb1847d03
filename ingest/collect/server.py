"""How ``dlrw collect`` is served: uvicorn with its h11 parser, request headers capped in size,
and a connection closed when its request does not arrive whole in time.

h11, not httptools: uvicorn's httptools protocol buffers a request's headers without limit,
while h11 answers 400 and closes once the request line and headers pass ``MAX_HEADER_BYTES``.
uvicorn has no timeout for receiving a request (its keep-alive timer stops at a request's first
byte, and ASGI middleware runs only once the headers are in), so the protocol below adds one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from dlrw.ingest.errors import ServiceUnavailable

__all__ = ["MAX_HEADER_BYTES", "REQUEST_TIMEOUT_S", "UVICORN_VERSION", "server_config"]

log = logging.getLogger("dlrw.collect")

# Request line and headers together; gunicorn allows 8 KB per header line, nginx 8 KB in all.
MAX_HEADER_BYTES = 16 * 1024
# From a request's first byte (or the connection opening) to its last; providers send ~1 KB and
# give up on us after 10-15 s anyway.
REQUEST_TIMEOUT_S = 10.0
# The protocol below extends uvicorn's internal H11Protocol: only this tested version is trusted.
UVICORN_VERSION = "0.54.0"
# h11's states of a client that is still sending its request.
_RECEIVING = (h11.IDLE, h11.SEND_BODY)


class _DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request has not arrived whole
    (headers and body) within ``REQUEST_TIMEOUT_S`` of its first byte, or of the connection
    opening; idle keep-alive connections are left to uvicorn's own timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._transport = transport
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:
            self._arm()
        super().data_received(data)
        if self.conn.their_state not in _RECEIVING:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT_S, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        log.warning("closed a connection: no whole request within %gs", REQUEST_TIMEOUT_S)
        if self._transport is not None:
            self._transport.close()


def server_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration serving ``app`` on ``host:port``; refuses an untested uvicorn."""
    if uvicorn.__version__ != UVICORN_VERSION:
        raise ServiceUnavailable(
            f"dlrw collect needs uvicorn {UVICORN_VERSION} (its request timeout extends uvicorn's "
            f"h11 protocol), found {uvicorn.__version__}: pip install uvicorn=={UVICORN_VERSION}"
        )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_DeadlineH11Protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level="warning",
        log_config=None,  # uvicorn's records go to the command's handler (ingest/logs.py)
        access_log=False,  # the app logs one line per request, without query strings
        lifespan="on",
    )
