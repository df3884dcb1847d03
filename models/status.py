"""The canonical status model (SMPP message_state names) and each provider's mapping to it."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "FAILED_STATUSES",
    "FINAL_STATUSES",
    "INTERMEDIATE_STATUSES",
    "Status",
    "infobip_status",
    "smpp_status",
    "twilio_status",
    "vonage_status",
]


class Status(StrEnum):
    """Where a message is. ACCEPTED and ENROUTE are intermediate, the rest final."""

    ACCEPTED = "ACCEPTED"
    ENROUTE = "ENROUTE"
    DELIVERED = "DELIVERED"
    UNDELIVERABLE = "UNDELIVERABLE"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self not in INTERMEDIATE_STATUSES


INTERMEDIATE_STATUSES = frozenset({Status.ACCEPTED, Status.ENROUTE})
FINAL_STATUSES = frozenset(Status) - INTERMEDIATE_STATUSES
# A message "failed" when its final status is one of these (docs/design.md, metrics).
FAILED_STATUSES = frozenset({Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.DELETED})

_SMPP = {
    "DELIVRD": Status.DELIVERED,
    "UNDELIV": Status.UNDELIVERABLE,
    "EXPIRED": Status.EXPIRED,
    "REJECTD": Status.REJECTED,
    "DELETED": Status.DELETED,
    "ACCEPTD": Status.ACCEPTED,
    "ENROUTE": Status.ENROUTE,
    "UNKNOWN": Status.UNKNOWN,
}

_TWILIO = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERABLE,
    "failed": Status.REJECTED,
    "sent": Status.ENROUTE,
    "queued": Status.ACCEPTED,
    "sending": Status.ACCEPTED,
    "accepted": Status.ACCEPTED,
    "scheduled": Status.ACCEPTED,
    "canceled": Status.DELETED,
}

# Infobip status names start with their group: DELIVERED_*, PENDING_*, UNDELIVERABLE_* ...
_INFOBIP_GROUPS = {
    "DELIVERED": Status.DELIVERED,
    "PENDING": Status.ENROUTE,
    "UNDELIVERABLE": Status.UNDELIVERABLE,
    "EXPIRED": Status.EXPIRED,
    "REJECTED": Status.REJECTED,
}
# Names whose group says more than they do: reaching the operator is not reaching the handset.
_INFOBIP_NAMES = {"DELIVERED_TO_OPERATOR": Status.ENROUTE}

_VONAGE = {
    "delivered": Status.DELIVERED,
    "buffered": Status.ENROUTE,
    "accepted": Status.ACCEPTED,
    "failed": Status.UNDELIVERABLE,
    "expired": Status.EXPIRED,
    "rejected": Status.REJECTED,
    "unknown": Status.UNKNOWN,
}


def _lookup(table: dict[str, Status], value: str, provider: str) -> Status:
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown {provider} status {value!r}") from None


def smpp_status(stat: str) -> Status:
    """Map an SMPP receipt's ``stat:`` value (e.g. ``DELIVRD``)."""
    return _lookup(_SMPP, stat.strip().upper(), "SMPP")


def twilio_status(value: str) -> Status:
    """Map a Twilio ``MessageStatus``."""
    return _lookup(_TWILIO, value.strip().lower(), "Twilio")


def infobip_status(name: str, group_name: str | None = None) -> Status:
    """Map an Infobip status ``name`` (e.g. ``DELIVERED_TO_HANDSET``), else its ``groupName``.
    ``DELIVERED_TO_OPERATOR`` is ENROUTE: the operator has it, the handset may not."""
    named = _INFOBIP_NAMES.get(name.strip().upper())
    if named is not None:
        return named
    for candidate in (name, group_name or ""):
        group = candidate.strip().upper().split("_", 1)[0]
        if group in _INFOBIP_GROUPS:
            return _INFOBIP_GROUPS[group]
    raise ValueError(f"unknown Infobip status {name or group_name!r}")


def vonage_status(value: str) -> Status:
    """Map a Vonage receipt ``status``."""
    return _lookup(_VONAGE, value.strip().lower(), "Vonage")
