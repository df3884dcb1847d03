"""Kafka: the local broker, topics, and publishing canonical events."""
