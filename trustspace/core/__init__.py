"""Pure domain core: protocol state machines and message codecs.

Nothing in this package performs I/O, reads a clock or draws random numbers;
``tests/core/test_purity.py`` enforces the import rule.
"""
