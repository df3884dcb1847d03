"""Local development services run from Maven Central artifacts: the Kafka broker and the schema
registry for demos and tests.

Production points dlrw at its own Kafka estate and registry; nothing outside ``dlrw broker`` and
``dlrw registry`` imports this.
"""
