"""The local cluster's layout: ports and folders from DLRW_KAFKA_BOOTSTRAP and the data dir, and
the size a data dir keeps. No broker runs here (tests/reliability/test_cluster.py runs three)."""

from __future__ import annotations

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.local.broker import BrokerPaths, local_cluster


def test_three_nodes_take_consecutive_client_ports_then_their_controller_ports(
    settings: Settings,
) -> None:
    cluster = local_cluster(settings.model_copy(update={"kafka_bootstrap": "localhost:9092"}), 3)
    root = settings.data_dir / "kafka"
    assert [(n.node_id, n.port, n.controller_port) for n in cluster.nodes] == [
        (1, 9092, 9095),
        (2, 9093, 9096),
        (3, 9094, 9097),
    ]
    assert [n.paths.root for n in cluster.nodes] == [root / f"node-{i}" for i in (1, 2, 3)]
    assert cluster.bootstrap == "localhost:9092,localhost:9093,localhost:9094"
    assert cluster.replication == 3


def test_one_node_keeps_the_single_broker_layout(settings: Settings) -> None:
    cluster = local_cluster(settings.model_copy(update={"kafka_bootstrap": "localhost:9092"}))
    [node] = cluster.nodes
    assert (node.port, node.controller_port) == (9092, 9093)
    assert node.paths.root == settings.data_dir / "kafka"
    assert cluster.replication == 1


def test_a_data_dir_keeps_the_size_it_was_started_with(settings: Settings) -> None:
    root = settings.data_dir / "kafka"
    for i in (1, 2, 3):
        (root / f"node-{i}").mkdir(parents=True)
    assert local_cluster(settings).size == 3
    with pytest.raises(ConfigError, match=r"holds the data of a cluster of 3 brokers, not 1; "):
        local_cluster(settings, 1)


def test_a_formatted_single_broker_is_not_started_as_a_cluster(settings: Settings) -> None:
    meta = BrokerPaths(settings.data_dir / "kafka").meta
    meta.parent.mkdir(parents=True)
    meta.write_text("cluster.id=abc\nnode.id=1\n")
    assert local_cluster(settings).size == 1
    with pytest.raises(ConfigError, match=r"holds the data of one broker, not 3; start it with"):
        local_cluster(settings, 3)


@pytest.mark.parametrize("brokers", [0, 10])
def test_the_cluster_size_is_bounded(settings: Settings, brokers: int) -> None:
    with pytest.raises(ConfigError, match=f"--brokers must be between 1 and 9, got {brokers}"):
        local_cluster(settings, brokers)


def test_the_ports_must_fit_below_65536(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="leaves no room for the 6 ports"):
        local_cluster(settings.model_copy(update={"kafka_bootstrap": "localhost:65532"}), 3)
