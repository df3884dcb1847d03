"""The ASGI app of ``dlrw collect``: one route per provider, health and readiness, and the
OpenAPI document.

A callback is answered 2xx only after Kafka has acknowledged its receipts, so a provider
retries anything we could not keep. Per request, in this order:

1. authenticate (Twilio signature, Vonage ``sig``, or the shared secret) — else 403, nothing
   written;
2. parse with the receipt adapters — the whole payload or nothing: if any report in it is
   unparseable, the raw payload goes to the dead-letter topic with the reason, and the answer
   is 400 ``{"error": reason}`` once that record is acknowledged;
3. publish the receipts to the receipts topic (Avro single-object encoding, key
   ``provider:provider_message_id``) and answer 200 once Kafka has acknowledged them;
   Kafka down or slow → 503 ``{"error": ...}``: nothing acknowledged, the provider retries.

Retries and replays are harmless: a receipt's event id comes from its content, so the same
callback twice is the same event twice and the warehouse counts it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingest.adapters import ReceiptParseError, parse_receipts
from ingest.adapters._common import compact_json
from ingest.collect.openapi import openapi_document
from ingest.collect.signatures import (
    VONAGE_SIGNATURE_FIELDS,
    shared_secret_matches,
    twilio_signature_matches,
    vonage_signature_matches,
)
from ingest.collect.sink import KafkaSink, OutgoingRecord
from ingest.config import Settings
from ingest.errors import ServiceUnavailable
from ingest.kafka.deadletter import dead_letter_headers
from models.events import DeliveryReceipt
from models.wire import encode_event

__all__ = ["MAX_BODY_BYTES", "SECRET_HEADER", "create_app", "unsigned_providers"]

log = logging.getLogger("dlrw.collect")

SECRET_HEADER = "X-Dlrw-Secret"
TOKEN_PARAM = "token"
# An Infobip document holds at most 100 reports (~50 KB); anything far bigger is not a receipt.
MAX_BODY_BYTES = 1024 * 1024
# Numbers in a log line are masked: a reason may quote a payload value.
_LONG_DIGITS = re.compile(r"\+?\d{6,}")


class _Rejected(Exception):
    """A request answered with an error status before anything was written."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Payload:
    """What a provider route hands on: the payload text(s) to parse, and the raw bytes kept
    on the dead-letter topic if parsing fails."""

    texts: list[str]
    raw: bytes


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


async def _body(request: Request) -> bytes:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Rejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Undecodable(ReceiptParseError):
    """A payload that is not UTF-8 text; it keeps the raw bytes for the dead-letter topic."""

    def __init__(self, raw: bytes, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Undecodable(raw, f"not UTF-8 text (byte {exc.start + 1})") from None


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
    if settings.twilio_auth_token is not None:
        params = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        if not twilio_signature_matches(
            _public_url(request, settings),
            params,
            settings.twilio_auth_token.get_secret_value(),
            request.headers.get("X-Twilio-Signature"),
        ):
            raise _Rejected(403, "missing or wrong X-Twilio-Signature")
    return _Payload([_text(raw)], raw)


async def _infobip(request: Request, settings: Settings) -> _Payload:
    _check_shared_secret(request, settings)
    raw = await _body(request)
    return _Payload([_text(raw)], raw)


async def _smpp(request: Request, settings: Settings) -> _Payload:
    _check_shared_secret(request, settings)
    raw = await _body(request)
    # One receipt a line; only LF splits (str.splitlines would also split on the control
    # bytes SMSCs leave at the end of a receipt).
    lines = [line for line in _text(raw).split("\n") if line.strip()]
    return _Payload(lines or [""], raw)


def _strip_vonage_signature(text: str, is_json: bool) -> str:
    """The receipt without the signing fields, so a re-signed retry has the same event id."""
    if is_json:
        document = json.loads(text)
        for field in VONAGE_SIGNATURE_FIELDS:
            document.pop(field, None)
        return compact_json(document)
    kept = [
        piece for piece in text.split("&") if piece.partition("=")[0] not in VONAGE_SIGNATURE_FIELDS
    ]
    return "&".join(kept)


async def _vonage(request: Request, settings: Settings) -> _Payload:
    raw = await _body(request)
    if not raw.strip() and request.url.query:
        raw = request.url.query.encode()  # GET (or a POST) with the receipt as a query string
    text = _text(raw)
    stripped = text.strip()
    params: dict[str, Any] | None
    is_json = stripped.startswith("{")
    if is_json:
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError:
            document = None
        params = document if isinstance(document, dict) else None
    else:
        params = dict(parse_qsl(stripped, keep_blank_values=True))
    if settings.vonage_signature_secret is not None and not (
        params is not None
        and vonage_signature_matches(params, settings.vonage_signature_secret.get_secret_value())
    ):
        raise _Rejected(403, "missing or wrong sig (Vonage signed callback)")
    if params is not None and "sig" in params:
        text = _strip_vonage_signature(stripped, is_json)
    return _Payload([text], raw)


_ROUTES: dict[str, Callable[[Request, Settings], Awaitable[_Payload]]] = {
    "twilio": _twilio,
    "infobip": _infobip,
    "vonage": _vonage,
    "smpp": _smpp,
}


def _receipt_record(settings: Settings, receipt: DeliveryReceipt) -> OutgoingRecord:
    return OutgoingRecord(settings.topic("receipt"), receipt.key(), encode_event(receipt))


class _Collector:
    def __init__(self, settings: Settings, sink: KafkaSink) -> None:
        self.settings = settings
        self.sink = sink

    def endpoint(self, provider: str) -> Callable[[Request], Awaitable[Response]]:
        read = _ROUTES[provider]

        async def receive(request: Request) -> Response:
            started = time.perf_counter()
            received_at = datetime.now(UTC)
            outcome = ""
            payload: _Payload | None = None
            try:
                try:
                    payload = await read(request, self.settings)
                    receipts = [
                        receipt
                        for text in payload.texts
                        for receipt in parse_receipts(provider, text, received_at)
                    ]
                except ReceiptParseError as exc:
                    raw = payload.raw if payload is not None else getattr(exc, "raw", b"")
                    reason = str(exc)
                    headers = dead_letter_headers(
                        ReceiptParseError.__name__,
                        reason,
                        http=f"{request.method} {request.url.path}",
                        provider=provider,
                        received_at=received_at.isoformat(),
                    )
                    topic = self.settings.topic("deadletter")
                    await self.sink.write([OutgoingRecord(topic, None, raw, headers)])
                    outcome = f"dead-lettered: {reason}"
                    response: Response = JSONResponse({"error": reason}, status_code=400)
                else:
                    await self.sink.write([_receipt_record(self.settings, r) for r in receipts])
                    outcome = f"receipts={len(receipts)}"
                    response = JSONResponse(
                        {"received": len(receipts), "event_ids": [r.event_id for r in receipts]}
                    )
            except _Rejected as exc:
                outcome = exc.reason
                response = JSONResponse({"error": exc.reason}, status_code=exc.status)
            except ServiceUnavailable as exc:
                outcome = str(exc)
                response = JSONResponse(
                    {"error": "Kafka is unavailable; nothing was kept, retry later"},
                    status_code=503,
                    headers={"Retry-After": "5"},
                )
            # The path only: a query string may carry a number (Vonage msisdn) or the token.
            log.info(
                "%s %s %d %.1fms %s",
                request.method,
                request.url.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                _LONG_DIGITS.sub("<digits>", outcome),
            )
            return response

        return receive

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


def create_app(settings: Settings, sink: KafkaSink | None = None) -> Starlette:
    """The collect service for ``settings``; ``sink`` defaults to a ``KafkaSink``."""
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
    return Starlette(routes=routes, lifespan=lifespan)
