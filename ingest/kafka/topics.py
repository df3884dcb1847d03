"""The contract's topics, created idempotently with the configured prefix.

Their replication follows the cluster: a replica on each of up to three brokers, and from three
on ``min.insync.replicas=2``, so that with producers' ``acks=all`` an acknowledged record is on
two brokers and writes go on while any one broker is down.
"""

from __future__ import annotations

import contextlib

from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from dlrw.ingest.config import TOPICS, Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.kafka.client import admin_client

__all__ = [
    "DEFAULT_PARTITIONS",
    "MAX_REPLICATION",
    "create_topics",
    "delete_topics",
    "min_insync_replicas",
    "topic_names",
]

DEFAULT_PARTITIONS = 6
# Three copies survive any one broker's loss with a second copy to spare; more add only cost.
MAX_REPLICATION = 3
# Topics per delete request, to keep each request well inside the broker's timeout.
_DELETE_CHUNK = 100


def topic_names(settings: Settings) -> list[str]:
    """Every topic of the contract, prefixed."""
    return [settings.topic(event_type) for event_type in TOPICS]


def min_insync_replicas(replication: int) -> int:
    """The in-sync replicas a write needs: two from three replicas on, else one."""
    return 2 if replication >= MAX_REPLICATION else 1


def create_topics(
    settings: Settings, partitions: int = DEFAULT_PARTITIONS, replication: int | None = None
) -> dict[str, bool]:
    """Create the topics that are missing, with ``replication`` replicas each (None: as many as
    the cluster has brokers, up to three); returns topic -> True if created, False if it
    existed."""
    if partitions < 1:
        raise ConfigError(f"partitions must be at least 1, got {partitions}")
    if replication is not None and replication < 1:
        raise ConfigError(f"replication must be at least 1, got {replication}")
    admin = admin_client(settings)
    try:
        brokers = len(admin.describe_cluster()["brokers"])
        if replication is None:
            replication = min(brokers, MAX_REPLICATION)
        if replication > brokers:
            raise ConfigError(
                f"replication {replication} needs as many brokers, but the cluster at "
                f"{settings.kafka_bootstrap} has {brokers}"
            )
        existing = set(admin.list_topics())
        wanted = topic_names(settings)
        configs = {"min.insync.replicas": str(min_insync_replicas(replication))}
        missing = {
            name: {
                "num_partitions": partitions,
                "replication_factor": replication,
                "configs": configs,
            }
            for name in wanted
            if name not in existing
        }
        if missing:
            # Another process may create them meanwhile; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        return {name: name not in existing for name in wanted}
    finally:
        admin.close()


def delete_topics(settings: Settings, prefix: str | None = None) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (the configured topic prefix by
    default); returns their names. The broker removes their data in the background."""
    prefix = settings.topic_prefix if prefix is None else prefix
    if not prefix:
        raise ConfigError("refusing to delete topics by an empty prefix: it matches every topic")
    admin = admin_client(settings)
    try:
        doomed = sorted(name for name in admin.list_topics() if name.startswith(prefix))
        for start in range(0, len(doomed), _DELETE_CHUNK):
            # Another process may delete some of them meanwhile; that is fine.
            with contextlib.suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(doomed[start : start + _DELETE_CHUNK])
        return doomed
    finally:
        admin.close()
