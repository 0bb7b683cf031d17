"""Read models built from the event log (see issue 5); nothing here yet."""
