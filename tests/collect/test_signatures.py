"""The signature checks against the providers' own published test vectors."""

from __future__ import annotations

from dlrw.ingest.collect.signatures import (
    shared_secret_matches,
    twilio_signature,
    twilio_signature_matches,
    vonage_signature,
    vonage_signature_matches,
    vonage_timestamp_problem,
)

# Twilio's request-validation example (auth token 12345), as in Twilio's helper libraries.
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_signature_matches_twilios_published_example() -> None:
    assert twilio_signature(TWILIO_URL, TWILIO_PARAMS.items(), "12345") == TWILIO_EXPECTED


def test_twilio_signature_is_checked_with_and_without_the_default_port() -> None:
    with_port = TWILIO_URL.replace("mycompany.com", "mycompany.com:443")
    for url in (TWILIO_URL, with_port):
        assert twilio_signature_matches(url, TWILIO_PARAMS.items(), "12345", TWILIO_EXPECTED)
    assert not twilio_signature_matches(TWILIO_URL, TWILIO_PARAMS.items(), "1234", TWILIO_EXPECTED)
    tampered = TWILIO_PARAMS | {"Digits": "4321"}
    assert not twilio_signature_matches(TWILIO_URL, tampered.items(), "12345", TWILIO_EXPECTED)
    assert not twilio_signature_matches(TWILIO_URL, TWILIO_PARAMS.items(), "12345", None)


def test_vonage_string_to_sign_matches_the_vonage_sdk_vector() -> None:
    # The Vonage Python SDK's md5hash test vector checks the shared construction.
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert vonage_signature(params, "secret", "md5hash") == "6af838ef94998832dbfc29020b564830"


def test_vonage_hmac_sha256_signature_is_verified_case_insensitively() -> None:
    params = {"messageId": "0B00000127FDBC63", "status": "delivered", "timestamp": "1461605396"}
    sig = vonage_signature(params, "secret")
    assert len(sig) == 64
    assert vonage_signature_matches(params | {"sig": sig.upper()}, "secret")
    assert not vonage_signature_matches(params | {"sig": sig}, "other")
    assert not vonage_signature_matches(params | {"status": "failed", "sig": sig}, "secret")
    assert not vonage_signature_matches(params, "secret")
    # '&' and '=' in values become '_' before signing, as Vonage does.
    odd = {"client-ref": "a=b&c"}
    assert vonage_signature(odd, "s") == vonage_signature({"client-ref": "a_b_c"}, "s")


def test_shared_secret_matches_any_offered_value() -> None:
    assert shared_secret_matches("s3cret", [None, "s3cret"])
    assert not shared_secret_matches("s3cret", [None, "s3cre", "s3cret!"])
    assert not shared_secret_matches("s3cret", [])


def test_vonage_timestamp_is_fresh_only_within_the_window_either_side_of_now() -> None:
    now = 1_700_000_000.5
    for stamp in (now - 300, now, now + 300):
        assert vonage_timestamp_problem({"timestamp": str(int(stamp))}, now, 300) is None
    assert vonage_timestamp_problem({"timestamp": int(now)}, now, 300) is None  # JSON number
    assert vonage_timestamp_problem({"timestamp": str(int(now) - 302)}, now, 300) == (
        "timestamp 302s old, outside the 300s window"
    )
    assert vonage_timestamp_problem({"timestamp": str(int(now) + 302)}, now, 300) == (
        "timestamp 302s ahead of our clock, outside the 300s window"
    )
    assert vonage_timestamp_problem({}, now, 300) == "signed callback without a timestamp"
    for odd in ("", "1.7e9", "2023-11-14T22:13:20Z", True):
        assert vonage_timestamp_problem({"timestamp": odd}, now, 300) == (
            "timestamp is not Unix seconds"
        )
