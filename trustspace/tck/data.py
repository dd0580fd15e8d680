"""Facts the Eclipse DSP TCK (2025-1) expects from a connector under test, as plain data.

The TCK runs in "remote" mode: it plays the counter-party and does nothing on
the connector's behalf.  The connector under test (CUT) therefore needs seed
data with the TCK's default ids and a scripted behaviour per id.  The ids below
are the ones in the TCK's sample configuration (``config/tck/sample.tck.properties``
of ``eclipse-dataspacetck/dsp-tck``), which EDC's TCK setup uses unchanged.
This module holds only data; ``trustspace.tck`` turns it into a node profile and
``docs/tck.md`` explains every entry.

Identities and authentication
    ``TCK_PARTICIPANT`` is the participant id the TCK uses for itself (as
    ``providerId`` in the webhooks, as assigner or assignee in its policies).
    ``CUT_PARTICIPANT_DEFAULT`` is the id the TCK is told the CUT has
    (``dataspacetck.dsp.connector.agent.id``); the TCK puts it into the
    agreements and offers it sends as the CUT's side.  The TCK sends the
    configured ``dataspacetck.dsp.connector.http.headers.authorization`` value
    verbatim as ``Authorization`` on every DSP request; ``DEFAULT_AUTHORIZATION``
    is the value of the published configurations.  Written in a Java properties
    file in double quotes, as those files do, the TCK sends it with the quotes
    kept, so ``ACCEPTED_AUTHORIZATIONS`` lists both spellings.

Seed data (the CUT is the provider)
    ``SEED_DATASETS``: datasets the CUT's catalog must offer, each with one
    Offer holding a single ``use`` permission and no constraint.  CAT0101 and
    CAT0102 are read by the catalog scenarios (CAT0103 must NOT exist); the
    ACNxxxx ones are negotiated by the CN scenarios; ATP0101 is the dataset
    behind every seeded agreement.
    ``SEED_OFFER_IDS``: the offer ``@id`` the TCK sends in its
    ContractRequestMessage for a dataset.  The CUT must know these ids (and
    accept a request that references them); a dataset without an entry may use
    any offer id.

Seed agreements (finalized before any test runs)
    ``PROVIDER_AGREEMENTS``: agreement id -> dataset id; the CUT is the
    provider (assigner) and ``TCK_PARTICIPANT`` the consumer (assignee).  The
    TP scenarios send TransferRequestMessages for them.
    ``CONSUMER_AGREEMENTS``: agreement id -> dataset id; the CUT is the
    consumer (assignee) and ``TCK_PARTICIPANT`` the provider (assigner).  The
    TP_C scenarios ask the CUT, through the transfer webhook, to request
    transfers under them.

Scripts (what the CUT does on its own)
    A ``Script`` maps a trigger to the ordered actions the CUT then performs
    (sent in this order through its outbox).  A trigger is:

    * a state name (``"REQUESTED"``, ``"OFFERED"``, ``"STARTED"`` ...) reached
      by a message the CUT RECEIVED;
    * ``"<STATE>#<n>"``: the same, but only the n-th time this process reaches
      that state through a received message (the initial request is the first
      ``REQUESTED``, a consumer counter-offer the second).  An ``#n`` entry wins
      over the bare state; without one the bare state applies every time;
    * ``"INITIAL"``: right after the CUT opened the process with its own first
      message (ContractRequestMessage or TransferRequestMessage).

    Negotiation actions: ``offer``, ``agree``, ``finalize``, ``terminate``
    (provider); ``accept``, ``verify``, ``counter``, ``terminate`` (consumer).
    Transfer actions: ``start`` (a provider start is also the resume after a
    suspension), ``complete``, ``suspend``, ``terminate``.
    ``"delay:<seconds>"`` postpones every later action of the same list by
    that much (it adds up).  An empty tuple, a missing trigger, or ``{}`` for
    the whole script, mean "stay passive".  A script here REPLACES the node's
    default script for that id.

    ``NEGOTIATION_PROVIDER_SCRIPTS`` and ``NEGOTIATION_CONSUMER_SCRIPTS`` are
    keyed by dataset id, ``TRANSFER_PROVIDER_SCRIPTS`` and
    ``TRANSFER_CONSUMER_SCRIPTS`` by agreement id.

    Delays: the TCK updates its own view of a process only after it has read
    the acknowledgement of the message it sent, and it registers the handler
    for the CUT's next message only after it has seen the previous state
    change.  A CUT message that arrives earlier is refused (HTTP 404 or 500, or
    a TCK-side state error).  So every action that answers a TCK message the
    TCK is still waiting on, and every second action of a chain, is preceded
    by ``SETTLE`` (0.5 s, the same pause EDC's TCK setup uses).
"""

from __future__ import annotations

from trustspace import settings

TCK_PARTICIPANT: str = "TCK_PARTICIPANT"
CUT_PARTICIPANT_DEFAULT: str = settings.TCK_PARTICIPANT_DEFAULT
DEFAULT_AUTHORIZATION: str = settings.TCK_AUTHORIZATION_DEFAULT
ACCEPTED_AUTHORIZATIONS: tuple[str, ...] = (DEFAULT_AUTHORIZATION, f'"{DEFAULT_AUTHORIZATION}"')

# The dataset id the catalog scenario CAT:01-03 asks for; the CUT must NOT have it.
ABSENT_DATASET: str = "CAT0103"
# The transfer format of every TP and TP_C scenario.
TRANSFER_FORMAT: str = "HttpData-PULL"
# The pause the scripts put between the TCK's message and the CUT's answer.
SETTLE: str = "delay:0.5"

Script = dict[str, tuple[str, ...]]

_NEGOTIATED: tuple[str, ...] = (
    "ACN0101",
    "ACN0102",
    "ACN0103",
    "ACN0104",
    "ACN0201",
    "ACN0202",
    "ACN0203",
    "ACN0204",
    "ACN0205",
    "ACN0206",
    "ACN0207",
    "ACN0301",
    "ACN0302",
    "ACN0303",
    "ACN0304",
)

AGREEMENT_DATASET: str = "ATP0101"

SEED_DATASETS: tuple[str, ...] = ("CAT0101", "CAT0102", *_NEGOTIATED, AGREEMENT_DATASET)

SEED_OFFER_IDS: dict[str, str] = {dataset: f"CD123:{dataset}:456" for dataset in _NEGOTIATED}

PROVIDER_AGREEMENTS: dict[str, str] = {
    agreement: AGREEMENT_DATASET
    for agreement in (
        "ATP0101",
        "ATP0102",
        "ATP0103",
        "ATP0104",
        "ATP0105",
        "ATP0201",
        "ATP0202",
        "ATP0203",
        "ATP0204",
        "ATP0205",
        "ATP0301",
        "ATP0302",
        "ATP0303",
        "ATP0304",
        "ATP0305",
        "ATP0306",
    )
}

CONSUMER_AGREEMENTS: dict[str, str] = {
    agreement: AGREEMENT_DATASET
    for agreement in (
        "ATPC0101",
        "ATPC0102",
        "ATPC0103",
        "ATPC0104",
        "ATPC0105",
        "ATPC0201",
        "ATPC0202",
        "ATPC0203",
        "ATPC0204",
        "ATPC0205",
        "ATPC0301",
        "ATPC0302",
        "ATPC0303",
        "ATPC0304",
        "ATPC0305",
        "ATPC0306",
    )
}

# --- negotiation, CUT as provider (CN scenarios), by dataset id ---------------------------------

NEGOTIATION_PROVIDER_SCRIPTS: dict[str, Script] = {
    # CN:01-01 offer, the TCK terminates
    "ACN0101": {"REQUESTED": (SETTLE, "offer")},
    # CN:01-02 offer, the TCK counter-offers, the CUT terminates
    "ACN0102": {"REQUESTED": (SETTLE, "offer"), "REQUESTED#2": ("terminate",)},
    # CN:01-03 offer, TCK accepts, agree, TCK verifies, finalize
    "ACN0103": {"REQUESTED": (SETTLE, "offer"), "ACCEPTED": ("agree",), "VERIFIED": ("finalize",)},
    # CN:01-04 agree straight away, TCK verifies, finalize
    "ACN0104": {"REQUESTED": (SETTLE, "agree"), "VERIFIED": ("finalize",)},
    # CN:02-01 terminate straight away
    "ACN0201": {"REQUESTED": (SETTLE, "terminate")},
    # CN:02-02 stay REQUESTED, the TCK terminates
    "ACN0202": {},
    # CN:02-03 agree, the TCK terminates in AGREED
    "ACN0203": {"REQUESTED": (SETTLE, "agree")},
    # CN:02-04 offer, the TCK terminates
    "ACN0204": {"REQUESTED": (SETTLE, "offer")},
    # CN:02-05 offer, then terminate on its own
    "ACN0205": {"REQUESTED": (SETTLE, "offer", SETTLE, "terminate")},
    # CN:02-06 offer, TCK accepts, terminate
    "ACN0206": {"REQUESTED": (SETTLE, "offer"), "ACCEPTED": (SETTLE, "terminate")},
    # CN:02-07 agree, TCK verifies, terminate
    "ACN0207": {"REQUESTED": (SETTLE, "agree"), "VERIFIED": ("terminate",)},
    # CN:03-01 agree, TCK verifies, finalize; the TCK's later termination must fail
    "ACN0301": {"REQUESTED": (SETTLE, "agree"), "VERIFIED": ("finalize",)},
    # CN:03-02 offer; the TCK's verification in OFFERED must fail
    "ACN0302": {"REQUESTED": (SETTLE, "offer")},
    # CN:03-03 offer, TCK accepts, stay ACCEPTED; the TCK's verification must fail
    "ACN0303": {"REQUESTED": (SETTLE, "offer"), "ACCEPTED": ()},
    # CN:03-04 offer, TCK counter-offers, stay REQUESTED; a second counter-offer must fail
    "ACN0304": {"REQUESTED": (SETTLE, "offer"), "REQUESTED#2": ()},
}

# --- negotiation, CUT as consumer (CN_C scenarios), by dataset id --------------------------------

NEGOTIATION_CONSUMER_SCRIPTS: dict[str, Script] = {
    # CN_C:01-01 TCK offers, accept, TCK agrees, verify, TCK finalizes
    "ACNC0101": {"OFFERED": (SETTLE, "accept"), "AGREED": (SETTLE, "verify")},
    # CN_C:01-02 TCK offers, counter-offer, TCK terminates
    "ACNC0102": {"OFFERED": (SETTLE, "counter")},
    # CN_C:01-03 TCK offers, terminate
    "ACNC0103": {"OFFERED": (SETTLE, "terminate")},
    # CN_C:01-04 TCK agrees straight away, verify, TCK finalizes
    "ACNC0104": {"AGREED": (SETTLE, "verify")},
    # CN_C:02-01 stay REQUESTED, the TCK terminates
    "ACNC0201": {},
    # CN_C:02-02 terminate right after the request
    "ACNC0202": {"INITIAL": (SETTLE, "terminate")},
    # CN_C:02-03 TCK agrees, terminate
    "ACNC0203": {"AGREED": (SETTLE, "terminate")},
    # CN_C:02-04 TCK offers, stay OFFERED (no auto-accept), the TCK terminates
    "ACNC0204": {},
    # CN_C:02-05 TCK offers, accept, the TCK terminates
    "ACNC0205": {"OFFERED": (SETTLE, "accept")},
    # CN_C:02-06 TCK agrees, verify, the TCK terminates
    "ACNC0206": {"AGREED": (SETTLE, "verify")},
    # CN_C:03-01 stay REQUESTED; the TCK's FINALIZED event must fail
    "ACNC0301": {},
    # CN_C:03-02 stay OFFERED; the TCK's agreement must fail
    "ACNC0302": {},
    # CN_C:03-03 stay OFFERED; the TCK's FINALIZED event must fail
    "ACNC0303": {},
    # CN_C:03-04 accept; the TCK's FINALIZED event in ACCEPTED must fail
    "ACNC0304": {"OFFERED": (SETTLE, "accept")},
    # CN_C:03-05 accept; the TCK's new offer in ACCEPTED must fail
    "ACNC0305": {"OFFERED": (SETTLE, "accept")},
    # CN_C:03-06 accept, TCK agrees, stay AGREED (no verify); the TCK's FINALIZED must fail
    "ACNC0306": {"OFFERED": (SETTLE, "accept"), "AGREED": ()},
}

# --- transfer, CUT as provider (TP scenarios), by agreement id ----------------------------------

_START: Script = {"REQUESTED": (SETTLE, "start")}

TRANSFER_PROVIDER_SCRIPTS: dict[str, Script] = {
    # TP:01-01 start, terminate
    "ATP0101": {"REQUESTED": (SETTLE, "start", SETTLE, "terminate")},
    # TP:01-02 start, complete
    "ATP0102": {"REQUESTED": (SETTLE, "start", SETTLE, "complete")},
    # TP:01-03 start, suspend, terminate
    "ATP0103": {"REQUESTED": (SETTLE, "start", SETTLE, "suspend", SETTLE, "terminate")},
    # TP:01-04 start, suspend, start again (resume), complete
    "ATP0104": {
        "REQUESTED": (SETTLE, "start", SETTLE, "suspend", SETTLE, "start", SETTLE, "complete")
    },
    # TP:01-05 terminate straight away
    "ATP0105": {"REQUESTED": (SETTLE, "terminate")},
    # TP:02-01..02-03 start; the TCK terminates / completes / suspends and terminates
    "ATP0201": dict(_START),
    "ATP0202": dict(_START),
    "ATP0203": dict(_START),
    # TP:02-04 (disabled upstream) start; the TCK suspends, resumes and completes
    "ATP0204": dict(_START),
    # TP:02-05 stay REQUESTED (no auto-start), the TCK terminates
    "ATP0205": {},
    # TP:03-01 / 03-02 stay REQUESTED; the TCK's completion / suspension must fail
    "ATP0301": {},
    "ATP0302": {},
    # TP:03-03..03-06 start; the TCK's later out-of-order messages must fail
    "ATP0303": dict(_START),
    "ATP0304": dict(_START),
    "ATP0305": dict(_START),
    "ATP0306": dict(_START),
}

# --- transfer, CUT as consumer (TP_C scenarios), by agreement id --------------------------------

TRANSFER_CONSUMER_SCRIPTS: dict[str, Script] = {
    # TP_C:01-01..01-05 passive: the TCK starts, suspends, completes, terminates
    "ATPC0101": {},
    "ATPC0102": {},
    "ATPC0103": {},
    "ATPC0104": {},
    "ATPC0105": {},
    # TP_C:02-01 TCK starts, terminate
    "ATPC0201": {"STARTED": (SETTLE, "terminate")},
    # TP_C:02-02 TCK starts, complete
    "ATPC0202": {"STARTED": (SETTLE, "complete")},
    # TP_C:02-03 TCK starts, suspend, terminate
    "ATPC0203": {"STARTED": (SETTLE, "suspend", SETTLE, "terminate")},
    # TP_C:02-04 (disabled upstream) passive: it needs a consumer-side resume
    "ATPC0204": {},
    # TP_C:02-05 terminate right after the request
    "ATPC0205": {"INITIAL": (SETTLE, "terminate")},
    # TP_C:03-01..03-06 passive; the TCK's out-of-order messages must fail
    "ATPC0301": {},
    "ATPC0302": {},
    "ATPC0303": {},
    "ATPC0304": {},
    "ATPC0305": {},
    "ATPC0306": {},
}
