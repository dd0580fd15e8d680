"""trustspace: a trusted data space speaking the Dataspace Protocol 2025-1."""

__version__ = "0.1.0"
