"""The service layer: the application over the event store, plan import, the CLI."""
