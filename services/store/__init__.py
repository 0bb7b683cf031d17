"""The event store: where PostgreSQL lives (``database``) and the batched writes and
reads the library has no public call for (``recorder``)."""
