"""The client side of the AI Manager server, shared by the agents, the live runner and any
other simulator: HTTP client, request signing, back-off, the on-disk outbox, identifiers.

Standard library and ``requests`` only (``coincurve`` speeds up signing when installed)."""
