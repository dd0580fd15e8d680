"""Every (state, message, sender) triple of both machines, allowed or not."""

from __future__ import annotations

import itertools

import pytest

from trustspace.core import negotiation as n
from trustspace.core import transfer as t
from trustspace.core.machine import Machine, Role, TransitionError

P, C = Role.PROVIDER, Role.CONSUMER

# The spec's diagrams, written out independently of the tables under test.
NEGOTIATION_ALLOWED = {
    (None, n.REQUEST, C): n.REQUESTED,
    (None, n.OFFER, P): n.OFFERED,
    (n.REQUESTED, n.OFFER, P): n.OFFERED,
    (n.REQUESTED, n.AGREE, P): n.AGREED,
    (n.OFFERED, n.REQUEST, C): n.REQUESTED,
    (n.OFFERED, n.ACCEPT, C): n.ACCEPTED,
    (n.ACCEPTED, n.AGREE, P): n.AGREED,
    (n.AGREED, n.VERIFY, C): n.VERIFIED,
    (n.VERIFIED, n.FINALIZE, P): n.FINALIZED,
    **{
        (s, n.TERMINATE, r): n.TERMINATED
        for s in (n.REQUESTED, n.OFFERED, n.ACCEPTED, n.AGREED, n.VERIFIED)
        for r in (P, C)
    },
}

TRANSFER_ALLOWED = {
    (None, t.REQUEST, C): t.REQUESTED,
    (t.REQUESTED, t.START, P): t.STARTED,
    (t.SUSPENDED, t.START, P): t.STARTED,
    (t.SUSPENDED, t.START, C): t.STARTED,
    **{(t.STARTED, t.SUSPEND, r): t.SUSPENDED for r in (P, C)},
    **{(t.STARTED, t.COMPLETE, r): t.COMPLETED for r in (P, C)},
    **{
        (s, t.TERMINATE, r): t.TERMINATED
        for s in (t.REQUESTED, t.STARTED, t.SUSPENDED)
        for r in (P, C)
    },
}


def cases(
    machine: Machine, states: tuple[str, ...], messages: tuple[str, ...]
) -> list[tuple[str | None, str, Role]]:
    return list(itertools.product((None, *states), messages, (P, C)))


@pytest.mark.parametrize(("state", "message", "sender"), cases(n.NEGOTIATION, n.STATES, n.MESSAGES))
def test_negotiation_pairs(state: str | None, message: str, sender: Role) -> None:
    expected = NEGOTIATION_ALLOWED.get((state, message, sender))
    if expected is None:
        with pytest.raises(TransitionError) as err:
            n.NEGOTIATION.apply(state, message, sender)
        assert err.value.state == state and err.value.message == message
    else:
        assert n.NEGOTIATION.apply(state, message, sender) == expected


@pytest.mark.parametrize(("state", "message", "sender"), cases(t.TRANSFER, t.STATES, t.MESSAGES))
def test_transfer_pairs(state: str | None, message: str, sender: Role) -> None:
    expected = TRANSFER_ALLOWED.get((state, message, sender))
    if expected is None:
        with pytest.raises(TransitionError):
            t.TRANSFER.apply(state, message, sender)
    else:
        assert t.TRANSFER.apply(state, message, sender) == expected


def test_tables_have_nothing_beyond_the_spec() -> None:
    neg = {(s, msg, r) for (s, msg), (_, who) in n.NEGOTIATION.table.items() for r in who}
    tp = {(s, msg, r) for (s, msg), (_, who) in t.TRANSFER.table.items() for r in who}
    assert neg == set(NEGOTIATION_ALLOWED)
    assert tp == set(TRANSFER_ALLOWED)


def test_terminal_states_accept_nothing() -> None:
    for machine in (n.NEGOTIATION, t.TRANSFER):
        for state in machine.terminal:
            assert machine.allowed(state, P) == frozenset()
            assert machine.allowed(state, C) == frozenset()


def test_state_names_are_the_spec_names() -> None:
    assert n.STATES == (
        "REQUESTED",
        "OFFERED",
        "ACCEPTED",
        "AGREED",
        "VERIFIED",
        "FINALIZED",
        "TERMINATED",
    )
    assert t.STATES == ("REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED")
    assert n.NEGOTIATION.states == frozenset(n.STATES)
    assert t.TRANSFER.states == frozenset(t.STATES)
