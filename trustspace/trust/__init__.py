"""Identity: node keys, signed self-issued DSP request tokens, the trust list.

The trust list is behind the small :class:`trustspace.trust.tokens.KeyResolver`
protocol so that an operator-backed membership registry can replace it.
"""
