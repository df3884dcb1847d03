"""The contract's topics, created idempotently with the configured prefix."""

from __future__ import annotations

import contextlib

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ingest.config import TOPICS, Settings
from ingest.errors import ConfigError
from ingest.kafka.client import admin_client

__all__ = ["DEFAULT_PARTITIONS", "create_topics", "topic_names"]

DEFAULT_PARTITIONS = 6


def topic_names(settings: Settings) -> list[str]:
    """Every topic of the contract, prefixed."""
    return [settings.topic(event_type) for event_type in TOPICS]


def create_topics(
    settings: Settings, partitions: int = DEFAULT_PARTITIONS, replication: int = 1
) -> dict[str, bool]:
    """Create the topics that are missing; returns topic -> True if created, False if it existed."""
    if partitions < 1:
        raise ConfigError(f"partitions must be at least 1, got {partitions}")
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        wanted = topic_names(settings)
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication)
            for name in wanted
            if name not in existing
        ]
        if missing:
            # Another process may create them meanwhile; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        return {name: name not in existing for name in wanted}
    finally:
        admin.close()
