"""The service layers, each importing only those below it:

- ``cli``, ``demo``, ``supervisor`` — entrypoints and the composition root;
- ``grpc`` and ``kafka`` — the two transports (they share nothing but ``wire``);
- ``wire`` — protobuf ⇄ plain values, for every transport;
- ``app`` — the use cases: commands, submissions and receipts, plan import;
- ``store`` — where the event store lives, and every call into the library's
  private recorder API.
"""
