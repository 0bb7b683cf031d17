"""The Kafka transport: topic names and settings (``topics``), the ingest worker and
its batch ingestor, the outbound relay, and full mode's submitter."""
