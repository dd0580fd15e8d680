"""One SQL store for SQLite (the embedded default) and PostgreSQL.

Everything the node remembers lives here: datasets, offers, negotiations,
agreements, transfers, the outbox and the replay cache.  Services open one
transaction per use case (:meth:`Database.tx`) and call the repository
functions of :mod:`trustspace.store.repo` inside it.
"""

from trustspace.store.db import Conflict, Database, Tx

__all__ = ["Conflict", "Database", "Tx"]
