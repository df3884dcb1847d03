"""The OpenAPI 3.1 document served at ``/openapi.json``, written out rather than generated: the
payloads are the providers' formats, which the adapters (not a schema) define."""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_ACCEPTED = {
    "type": "object",
    "properties": {
        "received": {"type": "integer", "description": "receipts published"},
        "event_ids": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["received", "event_ids"],
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RESPONSES = {
    "200": _json(_ACCEPTED, "Kafka acknowledged every receipt in the payload"),
    "400": _json(_ERROR, "Unparseable payload; kept on the dead-letter topic with the reason"),
    "403": _json(
        _ERROR,
        "Missing or wrong signature / shared secret, a signed body that cannot be read or has a"
        " field twice, or a Vonage timestamp outside the window; nothing was kept",
    ),
    "413": _json(_ERROR, "Body larger than 1 MiB; nothing was kept"),
    "431": _json(_ERROR, "More than 100 header fields; nothing was kept"),
    "503": _json(_ERROR, "Kafka unavailable; nothing was acknowledged, retry later"),
}
_SHARED_SECRET: list[dict[str, list[str]]] = [{"sharedSecretHeader": []}, {"sharedSecretQuery": []}]


def _operation(summary: str, body: dict[str, Any] | None, security: list[Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": _RESPONSES, "security": security}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


@cache
def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document."""
    text = {"text/plain": {"schema": {"type": "string"}}}
    form = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
    json_body = {"application/json": {"schema": {"type": "object"}}}
    infobip = _operation("Infobip delivery report document (up to 100 reports)", json_body, [])
    infobip["security"] = _SHARED_SECRET
    vonage_get = _operation("Vonage delivery receipt as a query string", None, [])
    vonage_get["parameters"] = [
        {"name": "messageId", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "status", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dlrw collect",
            "version": "1",
            "description": (
                "Receives SMS providers' delivery-receipt callbacks, parses them with the dlrw "
                "receipt adapters and publishes canonical DeliveryReceipt events to Kafka. "
                "2xx only after Kafka acknowledged; a payload is taken whole or not at all. "
                "An endpoint whose provider secret is not configured accepts unsigned requests."
            ),
        },
        "paths": {
            "/receipts/twilio": {
                "post": _operation("Twilio message status callback", form, [{"twilio": []}])
            },
            "/receipts/infobip": {"post": infobip, "get": infobip},
            "/receipts/vonage": {
                "post": _operation(
                    "Vonage delivery receipt (JSON, or form-encoded)",
                    {**json_body, **form},
                    [{"vonage": []}],
                ),
                "get": {**vonage_get, "security": [{"vonage": []}]},
            },
            "/receipts/smpp": {
                "post": _operation("SMPP receipt text, one receipt a line", text, _SHARED_SECRET)
            },
            "/healthz": {
                "get": {"summary": "The process is up", "responses": {"200": {"description": "up"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Kafka is reachable and the topics exist",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "Kafka unreachable or topics missing"},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "twilio": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Twilio-Signature",
                    "description": "Base64 HMAC-SHA1 of URL + sorted POST params, keyed with "
                    "DLRW_TWILIO_AUTH_TOKEN",
                },
                "vonage": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "sig",
                    "description": "Vonage signed callback, HMAC-SHA256 with "
                    "DLRW_VONAGE_SIGNATURE_SECRET (in the JSON body for POST)",
                },
                "sharedSecretHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Dlrw-Secret",
                    "description": "DLRW_COLLECT_SHARED_SECRET",
                },
                "sharedSecretQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "DLRW_COLLECT_SHARED_SECRET",
                },
            }
        },
    }
