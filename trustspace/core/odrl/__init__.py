"""ODRL 2.2 usage control: vocabulary, policy model, parser, evaluator and compliance reports."""

from trustspace.core.odrl.evaluate import Decision, evaluate
from trustspace.core.odrl.model import DutyState, Policy, Request, World
from trustspace.core.odrl.parse import PolicyError, parse_policy, parse_request
from trustspace.core.odrl.report import reasons, to_json

__all__ = [
    "Decision",
    "DutyState",
    "Policy",
    "PolicyError",
    "Request",
    "World",
    "evaluate",
    "parse_policy",
    "parse_request",
    "reasons",
    "to_json",
]
