"""Running views over the log: reading and decoding it, replaying aggregates, writing
view tables (rows and tracking in one transaction), catching up, rebuilding,
following live, and reading views as known at a time."""
