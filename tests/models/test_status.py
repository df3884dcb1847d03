"""The status model and docs/design.md's mapping table, row by row."""

from __future__ import annotations

import pytest

from dlrw.models.status import (
    FAILED_STATUSES,
    Status,
    infobip_status,
    smpp_status,
    twilio_status,
    vonage_status,
)

S = Status


@pytest.mark.parametrize(
    ("mapper", "value", "expected"),
    [
        (smpp_status, "DELIVRD", S.DELIVERED),
        (smpp_status, "UNDELIV", S.UNDELIVERABLE),
        (smpp_status, "EXPIRED", S.EXPIRED),
        (smpp_status, "REJECTD", S.REJECTED),
        (smpp_status, "DELETED", S.DELETED),
        (smpp_status, "ACCEPTD", S.ACCEPTED),
        (smpp_status, "ENROUTE", S.ENROUTE),
        (smpp_status, "UNKNOWN", S.UNKNOWN),
        (twilio_status, "delivered", S.DELIVERED),
        (twilio_status, "read", S.DELIVERED),
        (twilio_status, "undelivered", S.UNDELIVERABLE),
        (twilio_status, "failed", S.REJECTED),
        (twilio_status, "sent", S.ENROUTE),
        (twilio_status, "queued", S.ACCEPTED),
        (twilio_status, "sending", S.ACCEPTED),
        (twilio_status, "accepted", S.ACCEPTED),
        (twilio_status, "scheduled", S.ACCEPTED),
        (twilio_status, "canceled", S.DELETED),
        (infobip_status, "DELIVERED_TO_HANDSET", S.DELIVERED),
        (infobip_status, "DELIVERED_TO_OPERATOR", S.ENROUTE),
        (infobip_status, "PENDING_ENROUTE", S.ENROUTE),
        (infobip_status, "UNDELIVERABLE_NOT_DELIVERED", S.UNDELIVERABLE),
        (infobip_status, "EXPIRED_EXPIRED", S.EXPIRED),
        (infobip_status, "REJECTED_NETWORK", S.REJECTED),
        (vonage_status, "delivered", S.DELIVERED),
        (vonage_status, "buffered", S.ENROUTE),
        (vonage_status, "accepted", S.ACCEPTED),
        (vonage_status, "failed", S.UNDELIVERABLE),
        (vonage_status, "expired", S.EXPIRED),
        (vonage_status, "rejected", S.REJECTED),
        (vonage_status, "unknown", S.UNKNOWN),
    ],
)
def test_provider_value_maps_as_design_table_says(mapper, value, expected):
    assert mapper(value) is expected


def test_only_accepted_and_enroute_are_intermediate():
    assert {s for s in Status if not s.is_final} == {S.ACCEPTED, S.ENROUTE}


def test_failed_statuses_are_the_four_in_the_metric_definition():
    assert {S.UNDELIVERABLE, S.EXPIRED, S.REJECTED, S.DELETED} == FAILED_STATUSES


@pytest.mark.parametrize("mapper", [smpp_status, twilio_status, vonage_status, infobip_status])
def test_unknown_provider_values_are_errors_not_guesses(mapper):
    with pytest.raises(ValueError, match="unknown"):
        mapper("TELEPORTED")
