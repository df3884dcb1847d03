"""Where alerts go: stdout (JSON lines), a webhook (Slack-compatible POST) or the ``sms.alerts``
topic. ``send`` returns only once the alert is delivered, so the caller records it as sent only
then; a failure raises ``ServiceUnavailable`` and the alert is tried again next evaluation."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any, Protocol, TextIO

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, ServiceUnavailable

__all__ = ["KafkaSink", "Sink", "StdoutSink", "WebhookSink", "make_sink"]


class Sink(Protocol):
    """Delivers one alert (the JSON object of ``messages.alert_message``)."""

    def send(self, alert: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class StdoutSink:
    """One JSON object a line, flushed at once so a pipe reader sees it immediately."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, alert: dict[str, Any]) -> None:
        self.stream.write(json.dumps(alert, sort_keys=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to release."""


class WebhookSink:
    """POSTs the alert as JSON; its ``text`` field is what Slack incoming webhooks show."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--sink webhook: {url!r} is not an http(s) URL")
        self.url, self.timeout_s = url, timeout_s

    def send(self, alert: dict[str, Any]) -> None:
        body = json.dumps(alert).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "dlrw-alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise ServiceUnavailable(
                f"webhook {self.url} answered HTTP {exc.code} {exc.reason}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceUnavailable(f"webhook {self.url} is not reachable: {reason}") from exc

    def close(self) -> None:
        """Nothing to release: one connection per alert (alerts are rare)."""


class KafkaSink:
    """Publishes to the alerts topic, keyed by cell id so one cell's alerts stay in order."""

    def __init__(self, settings: Settings, timeout_s: float = 15.0) -> None:
        from dlrw.ingest.kafka.client import producer

        self.topic = settings.topic("alert")
        self.timeout_s = timeout_s
        self._producer = producer(settings, linger_ms=0)

    def send(self, alert: dict[str, Any]) -> None:
        from kafka.errors import KafkaError

        future = self._producer.send(
            self.topic, key=str(alert["cell_id"]).encode(), value=json.dumps(alert).encode()
        )
        try:
            future.get(timeout=self.timeout_s)
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"alert not acknowledged by Kafka on {self.topic}: {type(exc).__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        self._producer.close()


def make_sink(spec: list[str], settings: Settings) -> Sink:
    """A sink from ``--sink`` words: ``stdout``, ``webhook URL`` or ``kafka``."""
    kind, rest = (spec[0] if spec else "stdout"), spec[1:]
    if kind == "stdout" and not rest:
        return StdoutSink()
    if kind == "webhook" and len(rest) == 1:
        return WebhookSink(rest[0])
    if kind == "kafka" and not rest:
        return KafkaSink(settings)
    raise ConfigError(f"--sink {' '.join(spec)!s}: expected `stdout`, `webhook URL` or `kafka`")
