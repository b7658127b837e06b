"""The server's store (SQLite by default, PostgreSQL by URL). All SQL lives in this package."""

from .db import StoreError, is_postgres
from .messages import NewMessage, StoredMessage
from .shared import DEFAULT_COMMUNITY, Refusal
from .store import Store

__all__ = [
    "DEFAULT_COMMUNITY",
    "NewMessage",
    "Refusal",
    "Store",
    "StoreError",
    "StoredMessage",
    "is_postgres",
]
