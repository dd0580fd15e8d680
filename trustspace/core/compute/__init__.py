"""Compute-to-data: the analysis rule (:mod:`.rule`), the query guard (:mod:`.guard`), the
plan and the SQL generated from it (:mod:`.plan`), and release (:mod:`.release`).  Pure.

What a released result may depend on: whatever the consumer observes — the job's state, its
error text, the rows, their count and order — is the same whether or not any one entity is in
the data, except for what an aggregate over a large enough group, with its noise, shows.
"""

from trustspace.core.compute.guard import check
from trustspace.core.compute.plan import GROUP_KEY, GROUP_SIZE, Order, Output, Plan
from trustspace.core.compute.rule import (
    DEFAULT_DP,
    GuardError,
    Join,
    Privacy,
    Rule,
    parse_rule,
    with_privacy_default,
)
from trustspace.core.compute.syntax import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_DP",
    "DEFAULT_LIMITS",
    "GROUP_KEY",
    "GROUP_SIZE",
    "GuardError",
    "Join",
    "Limits",
    "Order",
    "Output",
    "Plan",
    "Privacy",
    "Rule",
    "check",
    "parse_rule",
    "with_privacy_default",
]
