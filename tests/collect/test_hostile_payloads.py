"""`dlrw collect` against payloads that crashed the parsers (issue 16): each is answered 400 with
its reason and dead-lettered once, and the service goes on serving; no 500, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dlrw.ingest.config import Settings
from tests.adapters.hostile import HOSTILE_RECEIPTS, infobip_document

from .conftest import SECRETS, read_topic, topic_size

pytestmark = pytest.mark.broker

SHARED = {"X-Dlrw-Secret": SECRETS["DLRW_COLLECT_SHARED_SECRET"]}
# Without a Vonage secret, so that an unreadable Vonage body reaches the adapter: with one, a
# body whose signature cannot be read is refused 403 before parsing.
UNSIGNED_VONAGE = {k: v for k, v in SECRETS.items() if k != "DLRW_VONAGE_SIGNATURE_SECRET"}


def test_payloads_that_crashed_the_parsers_are_dead_lettered_with_their_reason(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    with collect(broker_settings, **UNSIGNED_VONAGE) as service:
        replies = {
            case: service.request(f"/receipts/{provider}", payload, SHARED)
            for case, (provider, payload, _) in HOSTILE_RECEIPTS.items()
        }
        after = service.request("/receipts/infobip", infobip_document(), SHARED)
        log = service.log()

    for case, (_, _, reason) in HOSTILE_RECEIPTS.items():
        assert (replies[case].status, replies[case].body) == (400, {"error": reason}), case
    assert after.status == 200, after.body
    assert " 500 " not in log and "Traceback" not in log

    letters = read_topic(broker_settings, "deadletter")
    assert len(letters) == len(HOSTILE_RECEIPTS) == topic_size(broker_settings, "deadletter")
    by_value = {record.value: dict(record.headers) for record in letters}
    for provider, payload, reason in HOSTILE_RECEIPTS.values():
        headers = by_value[payload.encode()]
        assert headers["dlrw.error.reason"] == reason.encode()
        assert headers["dlrw.source.http"] == f"POST /receipts/{provider}".encode()
    assert topic_size(broker_settings, "receipt") == 1
