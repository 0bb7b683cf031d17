"""Running views over the log: reading and decoding it, replaying aggregates, writing
view tables (one writer: rows and tracking, moved by compare-and-set, in one
transaction), catching up, rebuilding, following live, and reading views as known at
a time."""
