"""Foreman's state: one SQLite file (WAL) under the state directory."""

from assistant.store._db import DB_NAME, StateFileError, Store, default_state_dir, open_store

__all__ = ["DB_NAME", "StateFileError", "Store", "default_state_dir", "open_store"]
