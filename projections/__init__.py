"""Read models built from the event log: pure code from events to rows, run by
:class:`projections.engine.runner.ProjectionRunner` (batches, tracking, digest, rebuild)."""
