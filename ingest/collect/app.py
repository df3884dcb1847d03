"""The ASGI app of ``dlrw collect``: one route per provider, health and readiness, and the
OpenAPI document.

A callback is answered 2xx only after Kafka has acknowledged its receipts, so a provider
retries anything we could not keep. Per request, in this order:

1. authenticate (Twilio signature, Vonage ``sig`` and ``timestamp``, or the shared secret) —
   else 403, nothing written. The signed routes read their body once, and that one reading is
   both what the signature is checked against and what the receipt is made of; a body that
   cannot be read (not UTF-8, not JSON, a field given twice) cannot be authenticated, so it is
   a 403 too, never a dead letter;
2. parse with the receipt adapters — the whole payload or nothing: if any report in it is
   unparseable, the raw payload goes to the dead-letter topic with the reason, and the answer
   is 400 ``{"error": reason}`` once that record is acknowledged;
3. publish the receipts to the receipts topic (Avro in the framing DLRW_WIRE_FORMAT names, key
   ``provider:provider_message_id``) and answer 200 once Kafka has acknowledged them;
   Kafka (or the schema registry) down or slow → 503 ``{"error": ...}``: nothing acknowledged,
   the provider retries.

Retries and replays are harmless: a receipt's event id comes from its content, so the same
callback twice is the same event twice and the warehouse counts it once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dlrw.ingest.adapters import ReceiptParseError, parse_receipts
from dlrw.ingest.adapters.twilio import read_twilio_callback, twilio_receipt
from dlrw.ingest.adapters.vonage import read_vonage_callback, vonage_receipt
from dlrw.ingest.collect.openapi import openapi_document
from dlrw.ingest.collect.signatures import (
    shared_secret_matches,
    twilio_signature_matches,
    vonage_signature_matches,
    vonage_timestamp_problem,
)
from dlrw.ingest.collect.sink import KafkaSink, OutgoingRecord
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.deadletter import dead_letter_headers
from dlrw.ingest.kafka.registry_client import RegistryUnavailable, framing
from dlrw.ingest.metrics import CollectMetrics
from dlrw.models.events import DeliveryReceipt
from dlrw.models.wire import Framing, encode_event

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "SECRET_HEADER",
    "create_app",
    "masked",
    "unsigned_providers",
]

log = logging.getLogger("dlrw.collect")

SECRET_HEADER = "X-Dlrw-Secret"
TOKEN_PARAM = "token"
# An Infobip document holds at most 100 reports (~50 KB); anything far bigger is not a receipt.
MAX_BODY_BYTES = 1024 * 1024
# Providers send about ten header fields; their total size is capped by the server too.
MAX_HEADERS = 100
# A reason may quote a payload value: digits that could be a phone number are masked in the
# log, however they are spaced (blanks, dots, dashes, brackets, or blanks escaped by repr).
_SEPARATOR = r"(?:[\s().\-/]|\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|t))*"
_NUMBER = re.compile(rf"\+?\d(?:{_SEPARATOR}\d){{5,}}")

_T = TypeVar("_T")


class _Rejected(Exception):
    """A request answered with an error status before anything was written."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Payload:
    """What a provider route hands on once the request is authenticated: its raw bytes (kept
    on the dead-letter topic if they hold no valid receipt) and how to read its receipts."""

    raw: bytes
    receipts: Callable[[datetime], list[DeliveryReceipt]]


def unsigned_providers(settings: Settings) -> list[str]:
    """Providers whose endpoint accepts unsigned requests, because no secret is configured."""
    open_ = []
    if settings.twilio_auth_token is None:
        open_.append("twilio")
    if settings.vonage_signature_secret is None:
        open_.append("vonage")
    if settings.collect_shared_secret is None:
        open_ += ["infobip", "smpp"]
    return open_


def masked(text: str) -> str:
    """``text`` with every number that could be a phone number replaced by ``<digits>``."""
    return _NUMBER.sub("<digits>", text)


async def _body(request: Request) -> bytes:
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Rejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Also how a body too slow for the server's request timeout ends.
        raise _Rejected(408, "the connection closed before the whole body arrived") from None
    return b"".join(chunks)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReceiptParseError(f"not UTF-8 text (byte {exc.start + 1})") from None


def _read_signed(raw: bytes, read: Callable[[str], _T], signature: str) -> _T:
    """``raw`` read for its signature check; what cannot be read cannot be authenticated, so
    it is refused and nothing is written (a dead letter would let anyone write)."""
    try:
        return read(_text(raw))
    except ReceiptParseError as exc:
        raise _Rejected(403, f"{signature} not checked: {exc}") from None


def _public_url(request: Request, settings: Settings) -> str:
    """The URL the provider called: ``DLRW_COLLECT_PUBLIC_URL`` (the public base, behind a
    proxy) + path + query, else the URL as this server received it."""
    if not settings.collect_public_url:
        return str(request.url)
    query = request.url.query
    url = settings.collect_public_url.rstrip("/") + request.url.path
    return f"{url}?{query}" if query else url


def _check_shared_secret(request: Request, settings: Settings) -> None:
    if settings.collect_shared_secret is None:
        return
    offered = [request.headers.get(SECRET_HEADER), request.query_params.get(TOKEN_PARAM)]
    if not shared_secret_matches(settings.collect_shared_secret.get_secret_value(), offered):
        raise _Rejected(403, f"missing or wrong shared secret ({SECRET_HEADER} or ?token=)")


async def _twilio(request: Request, settings: Settings) -> _Payload:
    raw = await _body(request)
    if settings.twilio_auth_token is None:
        return _Payload(raw, lambda at: parse_receipts("twilio", _text(raw), at))
    form = _read_signed(raw, read_twilio_callback, "X-Twilio-Signature")
    if not twilio_signature_matches(
        _public_url(request, settings),
        form.fields.items(),
        settings.twilio_auth_token.get_secret_value(),
        request.headers.get("X-Twilio-Signature"),
    ):
        raise _Rejected(403, "missing or wrong X-Twilio-Signature")
    return _Payload(raw, lambda at: [twilio_receipt(form, at)])


async def _infobip(request: Request, settings: Settings) -> _Payload:
    _check_shared_secret(request, settings)
    raw = await _body(request)
    return _Payload(raw, lambda at: parse_receipts("infobip", _text(raw), at))


def _smpp_receipts(raw: bytes, received_at: datetime) -> list[DeliveryReceipt]:
    # One receipt a line; only LF splits (str.splitlines would also split on the control
    # bytes SMSCs leave at the end of a receipt).
    lines = [line for line in _text(raw).split("\n") if line.strip()]
    return [r for line in lines or [""] for r in parse_receipts("smpp", line, received_at)]


async def _smpp(request: Request, settings: Settings) -> _Payload:
    _check_shared_secret(request, settings)
    raw = await _body(request)
    return _Payload(raw, lambda at: _smpp_receipts(raw, at))


async def _vonage(request: Request, settings: Settings) -> _Payload:
    raw = await _body(request)
    if not raw.strip() and request.url.query:
        raw = request.url.query.encode()  # GET (or a POST) with the receipt as a query string
    secret = settings.vonage_signature_secret
    if secret is None:
        return _Payload(raw, lambda at: parse_receipts("vonage", _text(raw), at))
    callback = _read_signed(raw, read_vonage_callback, "sig")
    if not vonage_signature_matches(callback.fields, secret.get_secret_value()):
        raise _Rejected(403, "missing or wrong sig (Vonage signed callback)")
    untimely = vonage_timestamp_problem(
        callback.fields, time.time(), settings.vonage_timestamp_window
    )
    if untimely is not None:
        raise _Rejected(403, untimely)
    return _Payload(raw, lambda at: [vonage_receipt(callback, at)])


_ROUTES: dict[str, Callable[[Request, Settings], Awaitable[_Payload]]] = {
    "twilio": _twilio,
    "infobip": _infobip,
    "vonage": _vonage,
    "smpp": _smpp,
}


class _HeaderLimit:
    """Answers 431 to a request with more than ``MAX_HEADERS`` header fields."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["headers"]) > MAX_HEADERS:
            reason = f"more than {MAX_HEADERS} header fields"
            # Any path gets here, so it is masked like a reason.
            log.info("%s %s 431 %s", scope["method"], masked(scope["path"]), reason)
            await JSONResponse({"error": reason}, status_code=431)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _Metered:
    """Counts every answer by route and status code, with its latency to the status line;
    paths that are no route count as ``other`` (a label per path would let any client add
    series)."""

    def __init__(self, app: ASGIApp, metrics: CollectMetrics, routes: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        counted = False

        def count(status: int) -> None:
            nonlocal counted
            counted = True
            route = scope["path"] if scope["path"] in self.routes else "other"
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.duration.labels(route).observe(time.perf_counter() - started)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Counted as the answer starts: a client may act on the status line alone.
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            if not counted:
                count(500)  # no answer started


class _Collector:
    def __init__(self, settings: Settings, sink: KafkaSink) -> None:
        self.settings = settings
        self.sink = sink
        self.framing: Framing = framing(settings)

    def _records(self, receipts: list[DeliveryReceipt]) -> list[OutgoingRecord]:
        topic = self.settings.topic("receipt")
        return [OutgoingRecord(topic, r.key(), encode_event(r, self.framing)) for r in receipts]

    def endpoint(self, provider: str) -> Callable[[Request], Awaitable[Response]]:
        read = _ROUTES[provider]

        async def receive(request: Request) -> Response:
            started = time.perf_counter()
            received_at = datetime.now(UTC)
            try:
                payload = await read(request, self.settings)
                try:
                    receipts = payload.receipts(received_at)
                except ReceiptParseError as exc:
                    response = await self._dead_letter(
                        request, provider, payload.raw, str(exc), received_at
                    )
                    outcome = f"dead-lettered: {exc}"
                else:
                    # In a thread: the first receipt may wait for the schema registry.
                    await self.sink.write(await asyncio.to_thread(self._records, receipts))
                    outcome = f"receipts={len(receipts)}"
                    response = JSONResponse(
                        {"received": len(receipts), "event_ids": [r.event_id for r in receipts]}
                    )
            except _Rejected as exc:
                outcome = exc.reason
                response = JSONResponse({"error": exc.reason}, status_code=exc.status)
            except ServiceUnavailable as exc:
                outcome = str(exc)
                service = "the schema registry" if isinstance(exc, RegistryUnavailable) else "Kafka"
                response = JSONResponse(
                    {"error": f"{service} is unavailable; nothing was kept, retry later"},
                    status_code=503,
                    headers={"Retry-After": "5"},
                )
            # The path only: a query string may carry a number (Vonage msisdn) or the token.
            took_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info(
                "%s %s %d %.1fms %s",
                request.method,
                request.url.path,
                response.status_code,
                took_ms,
                masked(outcome),
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "duration_ms": took_ms,
                },
            )
            return response

        return receive

    async def _dead_letter(
        self, request: Request, provider: str, raw: bytes, reason: str, received_at: datetime
    ) -> Response:
        """Keep ``raw`` on the dead-letter topic with ``reason``; the 400 answer once it is."""
        headers = dead_letter_headers(
            ReceiptParseError.__name__,
            reason,
            http=f"{request.method} {request.url.path}",
            provider=provider,
            received_at=received_at.isoformat(),
        )
        topic = self.settings.topic("deadletter")
        await self.sink.write([OutgoingRecord(topic, None, raw, headers)])
        return JSONResponse({"error": reason}, status_code=400)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        topics = [self.settings.topic("receipt"), self.settings.topic("deadletter")]
        problem = await self.sink.ready(topics)
        if problem is not None:
            return JSONResponse({"status": "unavailable", "error": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def create_app(
    settings: Settings, sink: KafkaSink | None = None, metrics: CollectMetrics | None = None
) -> Starlette:
    """The collect service for ``settings``; ``sink`` defaults to a ``KafkaSink``, and requests
    are counted in ``metrics`` (a registry of their own by default)."""
    collector = _Collector(settings, sink or KafkaSink(settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for provider in unsigned_providers(settings):
            log.warning(
                "no secret configured for %s: /receipts/%s accepts unsigned requests",
                provider,
                provider,
            )
        # In the background: the service listens (and answers 503) while Kafka is down.
        connecting = asyncio.create_task(collector.sink.connect())
        try:
            yield
        finally:
            connecting.cancel()
            collector.sink.close()

    routes = [
        Route("/receipts/twilio", collector.endpoint("twilio"), methods=["POST"]),
        Route("/receipts/infobip", collector.endpoint("infobip"), methods=["POST", "GET"]),
        Route("/receipts/vonage", collector.endpoint("vonage"), methods=["POST", "GET"]),
        Route("/receipts/smpp", collector.endpoint("smpp"), methods=["POST"]),
        Route("/healthz", collector.healthz, methods=["GET"]),
        Route("/readyz", collector.readyz, methods=["GET"]),
        Route("/openapi.json", collector.openapi, methods=["GET"]),
    ]
    metered = Middleware(
        _Metered,
        metrics=metrics or CollectMetrics(),
        routes=frozenset(route.path for route in routes),
    )
    return Starlette(
        routes=routes, middleware=[metered, Middleware(_HeaderLimit)], lifespan=lifespan
    )
