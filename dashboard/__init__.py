"""The dashboard of the coordination office and the auditors: read-only, in
Vietnamese, live. A client of the gRPC API through :mod:`lienthong_sdk` only (mutual
TLS with an office's or an auditor's certificate), served by Starlette and uvicorn,
its pages rendered by Jinja2 and refreshed by htmx (vendored in ``static/``) when
``WatchService`` reports a change. ``lienthong dashboard`` runs it."""
