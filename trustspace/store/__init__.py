"""One SQL store for SQLite (the embedded default) and PostgreSQL.

Everything the node remembers lives here, one module per table or aggregate:
``datasets`` (versions, files, offers), ``negotiations``, ``agreements``,
``transfers``, ``outbox``, ``replay`` (message and token ids seen), ``history``
(each process's events), ``compute``, ``usage``, ``evidence``, ``certs``,
``audit`` (refusals) and ``blobs`` (the stored bytes).  Services open one
transaction per use case (:meth:`Database.tx`) and call these modules'
functions inside it; ``schema`` holds the migrations.
"""

from trustspace.store.db import Conflict, Database, Tx

__all__ = ["Conflict", "Database", "Tx"]
