"""Protobuf ⇄ plain values, shared by every transport: requests and envelopes checked
as a whole (every field violation listed), commands, verdicts and resources."""
