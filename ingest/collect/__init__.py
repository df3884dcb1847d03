"""``dlrw collect``: an HTTP service receiving providers' delivery-receipt callbacks (Twilio,
Infobip, Vonage, forwarded SMPP receipt text), publishing them as canonical receipts to Kafka
and answering 2xx only once Kafka has acknowledged them. See ``ingest.collect.app``."""

from dlrw.ingest.collect.app import create_app

__all__ = ["create_app"]
