"""Checking that a callback comes from the provider: Twilio's ``X-Twilio-Signature``, Vonage's
signed ``sig`` parameter and the freshness of its signed ``timestamp``, and a shared secret for
providers without a signing scheme.

Every comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "shared_secret_matches",
    "twilio_signature",
    "twilio_signature_matches",
    "vonage_signature",
    "vonage_signature_matches",
    "vonage_timestamp_problem",
]

_DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """Twilio's request signature: base64 HMAC-SHA1, keyed with the auth token, of the full URL
    followed by every POST parameter name and value, sorted by name (then value)."""
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """``url`` with and without its scheme's default port: Twilio signs the URL as configured,
    and a proxy may add or drop ``:443`` on the way (Twilio's own validators try both)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    if parts.port is None and default is not None:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif parts.port == default:
        netloc = parts.netloc.rsplit(":", 1)[0]
        other = parts._replace(netloc=netloc)
    else:
        return [url]
    return [url, urlunsplit(other)]


def twilio_signature_matches(
    url: str, params: Iterable[tuple[str, str]], auth_token: str, signature: str | None
) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) signs this request."""
    if not signature:
        return False
    params = list(params)
    return any(
        hmac.compare_digest(twilio_signature(candidate, params, auth_token), signature)
        for candidate in _url_variants(url)
    )


def vonage_signature(params: Mapping[str, object], secret: str, method: str = "sha256") -> str:
    """Vonage's signed-callback signature (hex, lower case) of ``params`` without ``sig``.

    Per Vonage's "Signing messages": parameters sorted by name, ``&`` and ``=`` in values
    replaced by ``_``, joined as ``&name=value``; that string is hashed with HMAC-SHA256 (or
    another HMAC digest) keyed with the signature secret — or, for ``method="md5hash"``, MD5
    over the string followed by the secret (the legacy scheme).
    """
    signed = "".join(
        "&{}={}".format(name, str(params[name]).replace("&", "_").replace("=", "_"))
        for name in sorted(params)
        if name != "sig"
    ).encode()
    if method == "md5hash":
        return hashlib.md5(signed + secret.encode()).hexdigest()
    return hmac.new(secret.encode(), signed, method).hexdigest()


def vonage_signature_matches(params: Mapping[str, object], secret: str) -> bool:
    """Whether the ``sig`` parameter is the HMAC-SHA256 signature of the other parameters."""
    sig = params.get("sig")
    if not isinstance(sig, str) or not sig:
        return False
    return hmac.compare_digest(vonage_signature(params, secret).encode(), sig.lower().encode())


def vonage_timestamp_problem(
    params: Mapping[str, object], now: float, window_s: float
) -> str | None:
    """Why the signed ``timestamp`` (Unix seconds) is not within ``window_s`` of ``now``, else
    None: a captured callback can be replayed only within the window."""
    value = params.get("timestamp")
    if value is None:
        return "signed callback without a timestamp"
    try:
        skew = int(str(value)) - int(now)
    except ValueError:
        return "timestamp is not Unix seconds"
    if abs(skew) > window_s:
        when = "ahead of our clock" if skew > 0 else "old"
        return f"timestamp {abs(skew)}s {when}, outside the {window_s:g}s window"
    return None


def shared_secret_matches(secret: str, offered: Iterable[str | None]) -> bool:
    """Whether any offered value (header, ``token`` parameter) equals the shared secret."""
    expected = secret.encode()
    return any(
        value is not None and hmac.compare_digest(value.encode(), expected) for value in offered
    )
