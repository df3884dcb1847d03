"""The Avro store: the log of record. Avro OCF segments, one per topic partition, offset range,
event type and event date; every record carries its Kafka lineage so the warehouse can be rebuilt
from the store alone."""
