"""Errors a service raises; the HTTP layers map them to status codes.

- :class:`trustspace.core.messages.MessageError` -> 400 (bad message)
- :class:`trustspace.core.machine.TransitionError` -> 409 (wrong state)
- :class:`BadRequest` -> 400 (a request that is malformed: a missing field, a wrong type)
- :class:`Refused` -> 400 (a valid message the node will not act on)
- :class:`NotFound` -> 404 on GET, 400 on POST (the process is unknown *to this
  caller*: another participant's process looks exactly like a missing one)

The one table from these (and the others a handler may raise) to answers is
:data:`trustspace.app.STATUS`.
"""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(ServiceError):
    pass


class NotFound(ServiceError):
    pass


class BadRequest(ServiceError):
    pass
