"""The contract negotiation state machine of DSP 2025-1.

Message names are the DSP message types, except the two kinds of
``ContractNegotiationEventMessage`` which are split by their ``eventType``
(``ACCEPTED`` and ``FINALIZED``) because they lead to different states.

The table is the spec's diagram, nothing more: a counter-offer is a
``ContractRequestMessage`` while OFFERED, a provider may agree straight from
REQUESTED, either party may terminate any non-terminal process.
"""

from __future__ import annotations

from typing import Final

from trustspace.core.machine import CONSUMER, EITHER, PROVIDER, Machine

REQUESTED: Final = "REQUESTED"
OFFERED: Final = "OFFERED"
ACCEPTED: Final = "ACCEPTED"
AGREED: Final = "AGREED"
VERIFIED: Final = "VERIFIED"
FINALIZED: Final = "FINALIZED"
TERMINATED: Final = "TERMINATED"

STATES: Final = (REQUESTED, OFFERED, ACCEPTED, AGREED, VERIFIED, FINALIZED, TERMINATED)

REQUEST: Final = "ContractRequestMessage"
OFFER: Final = "ContractOfferMessage"
ACCEPT: Final = "ContractNegotiationEventMessage:ACCEPTED"
AGREE: Final = "ContractAgreementMessage"
VERIFY: Final = "ContractAgreementVerificationMessage"
FINALIZE: Final = "ContractNegotiationEventMessage:FINALIZED"
TERMINATE: Final = "ContractNegotiationTerminationMessage"

MESSAGES: Final = (REQUEST, OFFER, ACCEPT, AGREE, VERIFY, FINALIZE, TERMINATE)

NEGOTIATION = Machine(
    kind="contract negotiation",
    table={
        (None, REQUEST): (REQUESTED, CONSUMER),
        (None, OFFER): (OFFERED, PROVIDER),
        (REQUESTED, OFFER): (OFFERED, PROVIDER),
        (REQUESTED, AGREE): (AGREED, PROVIDER),
        (REQUESTED, TERMINATE): (TERMINATED, EITHER),
        (OFFERED, REQUEST): (REQUESTED, CONSUMER),
        (OFFERED, ACCEPT): (ACCEPTED, CONSUMER),
        (OFFERED, TERMINATE): (TERMINATED, EITHER),
        (ACCEPTED, AGREE): (AGREED, PROVIDER),
        (ACCEPTED, TERMINATE): (TERMINATED, EITHER),
        (AGREED, VERIFY): (VERIFIED, CONSUMER),
        (AGREED, TERMINATE): (TERMINATED, EITHER),
        (VERIFIED, FINALIZE): (FINALIZED, PROVIDER),
        (VERIFIED, TERMINATE): (TERMINATED, EITHER),
    },
    terminal=frozenset({FINALIZED, TERMINATED}),
)
