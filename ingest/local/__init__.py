"""Local development services run from Maven Central jars: the Kafka broker for demos and tests.

Production points dlrw at its own Kafka estate; nothing outside ``dlrw broker`` imports this.
"""
