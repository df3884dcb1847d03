"""Settings: ``DLRW_*`` environment variables (and a ``.env`` file) with one-machine defaults."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dlrw.ingest.errors import ConfigError

__all__ = ["TOPICS", "Settings", "load_settings"]

# The contract's topic names, by event type; DLRW_TOPIC_PREFIX is prepended to each.
TOPICS = {
    "send": "sms.sends",
    "receipt": "sms.receipts",
    "conversion": "sms.conversions",
    "deadletter": "sms.deadletter",
    "alert": "sms.alerts",
}
# Kafka's rules for topic names: these characters, at most 249 of them with the prefix.
_TOPIC_CHARACTERS = re.compile(r"[A-Za-z0-9._-]*")
_MAX_PREFIX = 249 - max(len(name) for name in TOPICS.values())


class Settings(BaseSettings):
    """All configuration of dlrw; unset derived paths follow ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="DLRW_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    kafka_bootstrap: str = "localhost:9092"
    # The Confluent-compatible schema registry API; `dlrw registry start` serves it locally.
    schema_registry_url: str = "http://localhost:8081/apis/ccompat/v7"
    # How producers frame Avro: single-object (no registry needed) or the registry's wire format,
    # which Kafka Connect, ksqlDB, Flink and ClickHouse read; ingest reads both.
    wire_format: Literal["single-object", "registry"] = "single-object"
    topic_prefix: str = ""
    # Seconds a producer waits for Kafka to acknowledge a record before it gives up.
    kafka_delivery_timeout: float = Field(default=120.0, ge=1, le=3600, allow_inf_nan=False)
    warehouse_url: str = ""
    store_dir: Path = Path()
    hash_key: SecretStr | None = None
    # `dlrw collect`: provider callback secrets; an unset one leaves its endpoints unsigned.
    twilio_auth_token: SecretStr | None = None
    vonage_signature_secret: SecretStr | None = None
    collect_shared_secret: SecretStr | None = None
    collect_public_url: str = ""
    # Seconds a signed Vonage callback's timestamp may be off our clock: bounds replays.
    vonage_timestamp_window: int = Field(default=300, ge=1, le=86_400)
    # Logs on stderr: "time LEVEL message" lines, or one JSON object a line (ingest/logs.py).
    log_format: Literal["text", "json"] = "text"

    @field_validator("topic_prefix")
    @classmethod
    def _valid_topic_prefix(cls, prefix: str) -> str:
        if not _TOPIC_CHARACTERS.fullmatch(prefix) or len(prefix) > _MAX_PREFIX:
            raise ValueError(
                f"{prefix!r} cannot start a Kafka topic name: use at most {_MAX_PREFIX} "
                "ASCII letters, digits, '.', '_' and '-'"
            )
        return prefix

    @model_validator(mode="after")
    def _derive_defaults(self) -> Self:
        self.data_dir = self.data_dir.resolve()
        if not self.warehouse_url:
            self.warehouse_url = f"duckdb:///{self.data_dir / 'warehouse.duckdb'}"
        if self.store_dir == Path():
            self.store_dir = self.data_dir / "store"
        return self

    def hash_secret(self, create: bool = True) -> bytes:
        """Key for hashing phone numbers: DLRW_HASH_KEY, else the one under the data dir, which
        is generated first if missing, unless ``create`` is false (then ``ConfigError``)."""
        if self.hash_key is not None:
            return self.hash_key.get_secret_value().encode()
        path = self.data_dir / "hash.key"
        if not path.exists() and not create:
            raise ConfigError(
                f"no hash key: {path} does not exist; set DLRW_HASH_KEY, or DLRW_DATA_DIR to "
                "the directory whose hash.key the traffic was hashed with"
            )
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".hash.key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            # link() fails if another process got there first; theirs wins, whole.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            tmp.unlink()
        return path.read_text().strip().encode()

    def topic(self, event_type: str) -> str:
        """Full topic name for an event type ('send', 'receipt', 'conversion', ...)."""
        return f"{self.topic_prefix}{TOPICS[event_type]}"


def load_settings() -> Settings:
    """Settings from the environment; a wrong value is a ``ConfigError`` naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = f"DLRW_{str(error['loc'][0]).upper()}" if error["loc"] else "settings"
        reason = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {reason}") from None
