"""Use cases.  Each call is one transaction: load, apply the pure rule, save,
queue outgoing messages in the outbox.  DSP handlers and the management API
are two thin callers of the same functions."""
