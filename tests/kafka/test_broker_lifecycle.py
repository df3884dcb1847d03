"""A second, private broker through `dlrw broker start|status|stop`, on free ports."""

from __future__ import annotations

import re

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.models.events import ConversionEvent
from dlrw.models.wire import decode
from tests.cli import env_for, run_dlrw

pytestmark = pytest.mark.broker


def test_broker_start_status_stop(settings: Settings, free_port_pair: int, read_topics) -> None:
    bootstrap = f"localhost:{free_port_pair}"
    settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})
    env = env_for(settings)
    try:
        started = run_dlrw(["broker", "start"], env, timeout=300)
        assert started.returncode == 0, started.stderr
        match = re.fullmatch(
            rf"broker ready at {bootstrap} in [\d.]+s \(pid (\d+), data (.+)\)",
            started.stdout.strip(),
        )
        assert match, started.stdout
        pid = match.group(1)
        assert match.group(2) == str(settings.data_dir / "kafka")

        again = run_dlrw(["broker", "start"], env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith(f"broker already running at {bootstrap} (pid {pid}")

        created = run_dlrw(["topics", "create", "--partitions", "2"], env)
        assert created.returncode == 0, created.stderr
        status = run_dlrw(["broker", "status"], env)
        assert status.returncode == 0
        assert status.stdout.startswith(f"running: pid {pid}, bootstrap {bootstrap}, 5 topics")

        event = ConversionEvent.from_dict(
            {"event_id": "c1", "message_id": "m1", "kind": "click", "occurred_at": 1740823200000}
        )
        with EventPublisher(settings) as publisher:
            publisher.publish(event)
        topic = settings.topic("conversion")
        [(key, value)] = read_topics(settings, [topic])[topic]
        assert key == b"m1"
        assert decode(value)[1]["event_id"] == "c1"
    finally:
        stopped = run_dlrw(["broker", "stop"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"broker stopped (pid {pid})"

    after = run_dlrw(["broker", "status"], env)
    assert after.returncode == 1
    assert after.stdout.startswith("not running")
    again_stopped = run_dlrw(["broker", "stop"], env)
    assert again_stopped.returncode == 0
    assert again_stopped.stdout.startswith("broker not running")
