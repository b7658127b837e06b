"""What every request path shares, Flask or not: the context, the ``POST /receive`` work on
plain inputs, the checks (signatures, auth, validation), decisions and aggregates, the
configuration, metrics and the plain JSON answers. Imports no Flask and no werkzeug (an
import-linter contract in pyproject.toml), so the RSGI fast path and any other interface run
the very same code."""
