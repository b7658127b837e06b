"""The server's store (SQLite by default, PostgreSQL by URL). All SQL lives in this package."""

from .db import StoreError, is_postgres
from .store import NewMessage, Refusal, Store, StoredMessage

__all__ = ["NewMessage", "Refusal", "Store", "StoreError", "StoredMessage", "is_postgres"]
