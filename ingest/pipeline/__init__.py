"""The ingest pipeline: Kafka records to the Avro store, the warehouse raw tables and the
dead-letter topic, with offsets committed only after all three are durable; and ``rebuild``,
which reloads the raw tables from the store alone."""
