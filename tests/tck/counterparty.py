"""The TCK's side of every scenario: its own DSP endpoint and the two roles it plays.

``Counterparty`` is a small Starlette app served by uvicorn on a loopback port.
As in the TCK, it answers only the messages a scenario has said it expects
next (``expect_*``); anything else gets a 404.  Unlike the TCK it also records
every message it had to refuse (out of order, for another process, invalid), and
a scenario fails if there was one: such a message is a race the real TCK would
lose some of the time.

The flows mirror the TCK's pipelines step by step (same order of registering
expectations, sending, waiting and checking):

* ``NegotiationAsConsumer`` / ``TransferAsConsumer``: the TCK is the consumer
  and drives the node's provider endpoints (CN and TP scenarios);
* ``NegotiationAsProvider`` / ``TransferAsProvider``: the TCK is the provider;
  the node is asked through its webhooks to start as consumer (CN_C, TP_C).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.tck import harness as h
from tests.tck.harness import IllegalMove, Json, NodeProcess, Process, Schemas

Handler = Callable[[Json], tuple[int, Json | None]]


class Reject(Exception):
    """The TCK refuses a message from the node (the reason goes into the scenario's failure)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Expectation:
    label: str
    pattern: re.Pattern[str]
    message_type: str
    handler: Handler
    method: str = "POST"
    done: threading.Event = field(default_factory=threading.Event)
    body: Json | None = None


@dataclass
class Exchange:
    at: float
    method: str
    path: str
    status: int
    note: str
    body: Any


class Counterparty:
    """The TCK's DSP endpoint (root-level paths, trailing slashes ignored)."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        self._lock = threading.Lock()
        self._expectations: list[Expectation] = []
        self.violations: list[str] = []
        self.journal: list[Exchange] = []
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=methods)])
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.address = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the TCK counter-party endpoint did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def reset(self) -> None:
        with self._lock:
            self._expectations.clear()
            self.violations.clear()
            self.journal.clear()

    def expect(self, label: str, path: str, message_type: str, handler: Handler) -> Expectation:
        """Answer the next POST to ``path`` (a regular expression) with ``handler``."""
        expectation = Expectation(label, re.compile(path), message_type, handler)
        with self._lock:
            self._expectations.append(expectation)
        return expectation

    def unfulfilled(self) -> list[str]:
        with self._lock:
            return [e.label for e in self._expectations if not e.done.is_set()]

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            expectation = next(
                (
                    e
                    for e in self._expectations
                    if not e.done.is_set()
                    and e.method == request.method
                    and e.pattern.fullmatch(path)
                ),
                None,
            )
        if expectation is None:
            self._log(request.method, path, 404, "no handler registered", body)
            return PlainTextResponse("No handler registered on this endpoint", status_code=404)
        try:
            problems = self.schemas.errors(body, expectation.message_type)
        except Exception as exc:
            problems = [f"schema check failed: {type(exc).__name__}: {exc}"]
        if problems:
            return self._refuse(
                request.method, path, body, expectation, 400, f"invalid: {problems}"
            )
        try:
            status, reply = expectation.handler(body)
        except Reject as exc:
            return self._refuse(request.method, path, body, expectation, exc.status, str(exc))
        except IllegalMove as exc:
            return self._refuse(request.method, path, body, expectation, 409, str(exc))
        except Exception as exc:  # a broken body (missing keys, wrong types)
            why = f"cannot handle it: {type(exc).__name__}: {exc}"
            return self._refuse(request.method, path, body, expectation, 400, why)
        expectation.body = body
        expectation.done.set()
        self._log(request.method, path, status, expectation.label, body)
        if reply is None:
            return Response(status_code=status)
        return JSONResponse(reply, status_code=status)

    def _refuse(
        self, method: str, path: str, body: Any, exp: Expectation, status: int, why: str
    ) -> Response:
        self._log(method, path, status, f"refused {exp.label}: {why}", body)
        with self._lock:
            self.violations.append(f"{method} {path} ({exp.label}) refused with {status}: {why}")
        kind = "TransferError" if "/transfers" in path else "ContractNegotiationError"
        pids = body if isinstance(body, dict) else {}
        error = h.error_body(
            kind,
            str(pids.get("providerPid", "unknown")),
            str(pids.get("consumerPid", "unknown")),
            str(status),
            why,
        )
        return JSONResponse(error, status_code=status)

    def _log(self, method: str, path: str, status: int, note: str, body: Any) -> None:
        with self._lock:
            self.journal.append(Exchange(time.monotonic(), method, path, status, note, body))


# --- one scenario -------------------------------------------------------------------------------


class Scenario:
    """What one test needs: the node, the TCK endpoint, the HTTP client and its bookkeeping."""

    def __init__(
        self,
        name: str,
        node: NodeProcess,
        counterparty: Counterparty,
        http: h.DspHttp,
        wait: float,
    ) -> None:
        self.name = name
        self.node = node
        self.cp = counterparty
        self.http = http
        self.wait = wait
        self.cut_id = node.participant_id
        self.pids: set[str] = set()
        self.pending: deque[Expectation] = deque()
        self.log_start = node.log_size()
        counterparty.reset()

    def track(self, pid: str | None) -> None:
        if pid:
            self.pids.add(pid)

    def await_expectation(self, expectation: Expectation) -> None:
        if not expectation.done.wait(self.wait):
            raise AssertionError(
                f"the node did not send the expected {expectation.label} within "
                f"{self.wait:g} s{self.problems_text()}"
            )

    def ours(self, exchange: Exchange) -> bool:
        """Whether a message the TCK did not expect belongs to this scenario."""
        if exchange.path in ("/negotiations/request", "/transfers/request"):
            return True
        body = exchange.body if isinstance(exchange.body, dict) else {}
        mentioned = {body.get("providerPid"), body.get("consumerPid")}
        return any(pid in exchange.path or pid in mentioned for pid in self.pids)

    def unexpected(self) -> list[str]:
        return [
            f"{e.method} {e.path} -> 404 (the TCK did not expect it now): {_brief(e.body)}"
            for e in list(self.cp.journal)
            if e.status == 404 and self.ours(e)
        ]

    def problems_text(self) -> str:
        problems = [*self.cp.violations, *self.unexpected()]
        return "".join(f"\n  - {p}" for p in problems)

    def journal_text(self) -> str:
        return "\n".join(
            f"  {e.method} {e.path} -> {e.status} [{e.note}] {_brief(e.body)}"
            for e in list(self.cp.journal)
        )

    def finish(self) -> None:
        """Every expected message arrived and nothing the TCK would refuse did."""
        open_ = self.cp.unfulfilled()
        assert not open_, f"expected messages never arrived: {open_}"
        problems = [*self.cp.violations, *self.unexpected()]
        assert not problems, "the TCK had to refuse messages from the node:" + "".join(
            f"\n  - {p}" for p in problems
        )

    # the four flows
    def consumer_negotiation(self, dataset_id: str, offer_id: str) -> NegotiationAsConsumer:
        return NegotiationAsConsumer(self, dataset_id, offer_id)

    def consumer_transfer(self, agreement_id: str, fmt: str) -> TransferAsConsumer:
        return TransferAsConsumer(self, agreement_id, fmt)

    def provider_negotiation(self, dataset_id: str) -> NegotiationAsProvider:
        return NegotiationAsProvider(self, dataset_id)

    def provider_transfer(self, agreement_id: str, fmt: str) -> TransferAsProvider:
        return TransferAsProvider(self, agreement_id, fmt)


def _brief(body: Any) -> str:
    text = json.dumps(body) if not isinstance(body, str) else body
    return text if len(text) < 400 else text[:400] + " ..."


# --- shared flow mechanics ----------------------------------------------------------------------


class _Flow:
    def __init__(self, scenario: Scenario, process: Process) -> None:
        self.sc = scenario
        self.http = scenario.http
        self.proc = process
        scenario.track(process.own_pid)

    @property
    def state(self) -> str:
        return self.proc.state

    def _expect(self, label: str, path: str, message_type: str, handler: Handler) -> None:
        expectation = self.sc.cp.expect(label, path, message_type, handler)
        self.sc.pending.append(expectation)

    def _own_path(self, suffix: str) -> str:
        plural = "negotiations" if self.proc.kind == "negotiation" else "transfers"
        return f"/{plural}/{re.escape(self.proc.own_pid)}/{suffix}"

    def wait_state(self, state: str) -> None:
        """Wait for the oldest expected message not waited for yet, then for the TCK's state."""
        if self.sc.pending:
            self.sc.await_expectation(self.sc.pending.popleft())
        h.wait_until(
            lambda: self.proc.state == state,
            self.sc.wait,
            f"the TCK's {self.proc.kind} to reach {state} (it is {self.proc.state})"
            f"{self.sc.problems_text()}",
        )

    def _receive(self, body: Json, to: str) -> None:
        """A message from the node for this process: check the ids, then move."""
        own_key, peer_key = (
            ("consumerPid", "providerPid")
            if self.proc.role == "consumer"
            else ("providerPid", "consumerPid")
        )
        if body.get(own_key) != self.proc.own_pid:
            raise Reject(f"{own_key} is {body.get(own_key)!r}, the TCK's id is {self.proc.own_pid}")
        if self.proc.peer_pid is None:
            raise Reject(
                "arrived before the TCK had read the node's acknowledgement of its own message",
                409,
            )
        if body.get(peer_key) != self.proc.peer_pid:
            raise Reject(f"{peer_key} is {body.get(peer_key)!r}, expected {self.proc.peer_pid}")
        self.proc.move(to)
        self.proc.received.append(body)

    def _view(self, state: str) -> Json:
        if self.proc.kind == "negotiation":
            return h.negotiation_view(self.proc.provider_pid, self.proc.consumer_pid, state)
        return h.transfer_view(self.proc.provider_pid, self.proc.consumer_pid, state)

    def _error_type(self) -> str:
        return "ContractNegotiationError" if self.proc.kind == "negotiation" else "TransferError"

    def _peer_url(self, suffix: str) -> str:
        plural = "negotiations" if self.proc.kind == "negotiation" else "transfers"
        return f"{self.proc.peer_address}/{plural}/{self.proc.peer_pid}{suffix}"

    def _send(self, suffix: str, body: Json, expect_error: bool) -> None:
        self.http.post(
            self._peer_url(suffix),
            body,
            expect_error=expect_error,
            error_type=self._error_type(),
        )

    def _check_view(self, view: Json, state: str | None) -> None:
        assert view.get("providerPid") == self.proc.provider_pid, (
            f"providerPid {view.get('providerPid')!r} != {self.proc.provider_pid}"
        )
        assert view.get("consumerPid") == self.proc.consumer_pid, (
            f"consumerPid {view.get('consumerPid')!r} != {self.proc.consumer_pid}"
        )
        if state is not None:
            assert view.get("state") == state, (
                f"the node's {self.proc.kind} is {view.get('state')}, expected {state}"
            )

    def _get_view(self) -> Json:
        type_name = "ContractNegotiation" if self.proc.kind == "negotiation" else "TransferProcess"
        response = self.http.get(self._peer_url(""))
        return self.http.body(response, type_name)

    def _poll_node_state(self, state: str) -> None:
        """GET the node's process until it shows ``state`` with both ids right (as the TCK polls)."""
        deadline = time.monotonic() + self.sc.wait
        while True:
            view = self._get_view()
            try:
                self._check_view(view, state)
                return
            except AssertionError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"after {self.sc.wait:g} s of polling: {exc}") from None
            time.sleep(0.05)


# --- the TCK as consumer, the node as provider (CN, TP) -----------------------------------------


class NegotiationAsConsumer(_Flow):
    def __init__(self, scenario: Scenario, dataset_id: str, offer_id: str) -> None:
        process = Process(
            "negotiation",
            str(uuid.uuid4()),
            "consumer",
            peer_address=scenario.node.dsp,
            dataset_id=dataset_id,
            offer_id=offer_id,
        )
        super().__init__(scenario, process)

    # messages from the node
    def expect_offer(self) -> None:
        self._expect(
            "ContractOfferMessage", self._own_path("offers"), "ContractOfferMessage", self._on_offer
        )

    def expect_agreement(self) -> None:
        self._expect(
            "ContractAgreementMessage",
            self._own_path("agreement"),
            "ContractAgreementMessage",
            self._on_agreement,
        )

    def expect_finalized(self) -> None:
        self._expect(
            "FINALIZED event",
            self._own_path("events"),
            "ContractNegotiationEventMessage",
            self._on_finalized,
        )

    def expect_termination(self) -> None:
        self._expect(
            "ContractNegotiationTerminationMessage",
            self._own_path("termination"),
            "ContractNegotiationTerminationMessage",
            self._on_termination,
        )

    def _on_offer(self, body: Json) -> tuple[int, Json]:
        target = body["offer"].get("target")
        if target is not None and target != self.proc.dataset_id:
            raise Reject(
                f"the offer targets {target!r}, the negotiation is for {self.proc.dataset_id}"
            )
        self._receive(body, "OFFERED")
        return 200, self._view("OFFERED")

    def _on_agreement(self, body: Json) -> tuple[int, Json]:
        agreement = body["agreement"]
        expected = {
            "target": self.proc.dataset_id,
            "assigner": self.sc.cut_id,
            "assignee": h.TCK_PARTICIPANT,
        }
        for key, value in expected.items():
            if agreement.get(key) != value:
                raise Reject(f"agreement {key} is {agreement.get(key)!r}, expected {value!r}")
        self._receive(body, "AGREED")
        return 200, self._view("AGREED")

    def _on_finalized(self, body: Json) -> tuple[int, Json]:
        if body.get("eventType") != "FINALIZED":
            raise Reject(f"a provider may only send FINALIZED, got {body.get('eventType')!r}")
        self._receive(body, "FINALIZED")
        return 200, self._view("FINALIZED")

    def _on_termination(self, body: Json) -> tuple[int, Json]:
        self._receive(body, "TERMINATED")
        return 200, self._view("TERMINATED")

    # messages to the node
    def send_request(self) -> None:
        body = h.contract_request(
            self.proc.own_pid, self.proc.offer_id, self.proc.dataset_id, self.sc.cp.address
        )
        response = self.http.post(f"{self.sc.node.dsp}/negotiations/request", body)
        assert response.status_code == 201, (
            f"a new negotiation is answered 201, got {response.status_code}"
        )
        view = self.http.body(response, "ContractNegotiation")
        assert view.get("consumerPid") == self.proc.own_pid, (
            f"consumerPid {view.get('consumerPid')!r}"
        )
        assert view.get("state") == "REQUESTED", (
            f"a new negotiation is REQUESTED, got {view.get('state')}"
        )
        with self.proc.lock:
            self.proc.peer_pid = view["providerPid"]
        self.sc.track(self.proc.peer_pid)
        self.proc.move("REQUESTED")

    def send_counter_offer(
        self, offer_id: str, dataset_id: str, expect_error: bool = False
    ) -> None:
        body = h.counter_request(
            self.proc.provider_pid, self.proc.own_pid, offer_id, dataset_id, self.sc.cut_id
        )
        if not expect_error:
            self.proc.move("REQUESTED")
        self._send("/request", body, expect_error)

    def accept_last_offer(self) -> None:
        self.proc.move("ACCEPTED")
        body = h.negotiation_event(self.proc.provider_pid, self.proc.own_pid, "ACCEPTED")
        self._send("/events", body, False)

    def send_verification(self, expect_error: bool = False) -> None:
        h.pause()
        if not expect_error:
            self.proc.move("VERIFIED")
        self._send(
            "/agreement/verification",
            h.verification(self.proc.provider_pid, self.proc.own_pid),
            expect_error,
        )

    def send_termination(self, expect_error: bool = False) -> None:
        h.pause()
        body = h.negotiation_termination(self.proc.provider_pid, self.proc.own_pid)
        self._send("/termination", body, expect_error)
        if not expect_error:
            self.proc.move("TERMINATED")

    def verify_provider_state(self, state: str) -> None:
        """A single GET on the node's negotiation, shortly after the last step (as the TCK)."""
        h.pause()
        self._check_view(self._get_view(), state)


class TransferAsConsumer(_Flow):
    def __init__(self, scenario: Scenario, agreement_id: str, fmt: str) -> None:
        process = Process(
            "transfer",
            str(uuid.uuid4()),
            "consumer",
            peer_address=scenario.node.dsp,
            agreement_id=agreement_id,
            format=fmt,
        )
        super().__init__(scenario, process)

    def expect_start(self) -> None:
        self._expect(
            "TransferStartMessage", self._own_path("start"), "TransferStartMessage", self._on_start
        )

    def expect_completion(self) -> None:
        self._expect(
            "TransferCompletionMessage",
            self._own_path("completion"),
            "TransferCompletionMessage",
            self._moves("COMPLETED"),
        )

    def expect_suspension(self) -> None:
        self._expect(
            "TransferSuspensionMessage",
            self._own_path("suspension"),
            "TransferSuspensionMessage",
            self._moves("SUSPENDED"),
        )

    def expect_termination(self) -> None:
        self._expect(
            "TransferTerminationMessage",
            self._own_path("termination"),
            "TransferTerminationMessage",
            self._moves("TERMINATED"),
        )

    def _on_start(self, body: Json) -> tuple[int, Json]:
        first = self.proc.starts == 0
        if first and self.proc.format.upper().endswith("-PULL") and "dataAddress" not in body:
            raise Reject("the TransferStartMessage of a pull transfer must carry a dataAddress")
        self._receive(body, "STARTED")
        self.proc.starts += 1
        return 200, self._view("STARTED")

    def _moves(self, to: str) -> Handler:
        def handler(body: Json) -> tuple[int, Json]:
            self._receive(body, to)
            return 200, self._view(to)

        return handler

    def send_request(self) -> None:
        body = h.transfer_request(
            self.proc.own_pid, self.proc.agreement_id, self.proc.format, self.sc.cp.address
        )
        response = self.http.post(f"{self.sc.node.dsp}/transfers/request", body)
        assert response.status_code == 201, (
            f"a new transfer is answered 201, got {response.status_code}"
        )
        view = self.http.body(response, "TransferProcess")
        assert view.get("consumerPid") == self.proc.own_pid, (
            f"consumerPid {view.get('consumerPid')!r}"
        )
        assert view.get("state") == "REQUESTED", (
            f"a new transfer is REQUESTED, got {view.get('state')}"
        )
        with self.proc.lock:
            self.proc.peer_pid = view["providerPid"]
        self.sc.track(self.proc.peer_pid)
        self.proc.move("REQUESTED")

    def send_start(self, expect_error: bool = False) -> None:
        body = h.transfer_start(self.proc.provider_pid, self.proc.own_pid, None)
        self._send("/start", body, expect_error)
        if not expect_error:
            self.proc.move("STARTED")

    def send_completion(self, expect_error: bool = False) -> None:
        self._send(
            "/completion",
            h.transfer_completion(self.proc.provider_pid, self.proc.own_pid),
            expect_error,
        )
        if not expect_error:
            self.proc.move("COMPLETED")

    def send_suspension(self, expect_error: bool = False) -> None:
        self._send(
            "/suspension",
            h.transfer_suspension(self.proc.provider_pid, self.proc.own_pid),
            expect_error,
        )
        if not expect_error:
            self.proc.move("SUSPENDED")

    def send_termination(self, expect_error: bool = False) -> None:
        self._send(
            "/termination",
            h.transfer_termination(self.proc.provider_pid, self.proc.own_pid),
            expect_error,
        )
        if not expect_error:
            self.proc.move("TERMINATED")

    def verify_provider_state(self, state: str) -> None:
        """Poll the node's transfer until it shows ``state`` (as the TCK)."""
        self._poll_node_state(state)


# --- the TCK as provider, the node as consumer (CN_C, TP_C) -------------------------------------


class NegotiationAsProvider(_Flow):
    def __init__(self, scenario: Scenario, dataset_id: str) -> None:
        process = Process(
            "negotiation",
            str(uuid.uuid4()),
            "provider",
            dataset_id=dataset_id,
            offer_id=h.offer_id_for(dataset_id),
        )
        super().__init__(scenario, process)

    def initiate(self) -> None:
        """Ask the node, through its webhook, to request a contract from the TCK."""
        self.http.post_plain(
            self.sc.node.negotiation_webhook,
            {
                "providerId": h.TCK_PARTICIPANT,
                "offerId": self.proc.offer_id,
                "datasetId": self.proc.dataset_id,
                "connectorAddress": self.sc.cp.address,
            },
        )

    # messages from the node
    def expect_initial_request(self) -> None:
        self._expect(
            "initial ContractRequestMessage",
            "/negotiations/request",
            "ContractRequestMessage",
            self._on_initial,
        )

    def expect_counter_request(self) -> None:
        self._expect(
            "counter ContractRequestMessage",
            self._own_path("request"),
            "ContractRequestMessage",
            self._on_counter,
        )

    def expect_accepted(self) -> None:
        self._expect(
            "ACCEPTED event",
            self._own_path("events"),
            "ContractNegotiationEventMessage",
            self._on_accepted,
        )

    def expect_verification(self) -> None:
        self._expect(
            "ContractAgreementVerificationMessage",
            self._own_path("agreement/verification"),
            "ContractAgreementVerificationMessage",
            self._on_verification,
        )

    def expect_termination(self) -> None:
        self._expect(
            "ContractNegotiationTerminationMessage",
            self._own_path("termination"),
            "ContractNegotiationTerminationMessage",
            self._on_termination,
        )

    def _on_initial(self, body: Json) -> tuple[int, Json]:
        if "providerPid" in body:
            raise Reject("an initial ContractRequestMessage has no providerPid")
        offer = body["offer"]
        if offer.get("@id") != self.proc.offer_id:
            raise Reject(
                f"offer @id is {offer.get('@id')!r}, the webhook said {self.proc.offer_id!r}"
            )
        if offer.get("target") != self.proc.dataset_id:
            raise Reject(
                f"offer target is {offer.get('target')!r}, expected {self.proc.dataset_id!r}"
            )
        with self.proc.lock:
            self.proc.peer_pid = body["consumerPid"]
            self.proc.peer_address = body["callbackAddress"].rstrip("/")
        self.sc.track(self.proc.peer_pid)
        self.proc.move("REQUESTED")
        return 201, self._view("REQUESTED")

    def _on_counter(self, body: Json) -> tuple[int, Json]:
        self._receive(body, "REQUESTED")
        return 200, self._view("REQUESTED")

    def _on_accepted(self, body: Json) -> tuple[int, Json]:
        if body.get("eventType") != "ACCEPTED":
            raise Reject(f"a consumer may only send ACCEPTED, got {body.get('eventType')!r}")
        self._receive(body, "ACCEPTED")
        return 200, self._view("ACCEPTED")

    def _on_verification(self, body: Json) -> tuple[int, Json]:
        self._receive(body, "VERIFIED")
        return 200, self._view("VERIFIED")

    def _on_termination(self, body: Json) -> tuple[int, Json]:
        self._receive(body, "TERMINATED")
        return 200, self._view("TERMINATED")

    # messages to the node
    def send_offer(self, expect_error: bool = False) -> None:
        body = h.contract_offer(
            self.proc.own_pid,
            self.proc.consumer_pid,
            self.proc.offer_id,
            self.proc.dataset_id,
            self.sc.cut_id,
        )
        self._send("/offers", body, expect_error)
        if not expect_error:
            self.proc.move("OFFERED")

    def send_agreement(self, expect_error: bool = False) -> None:
        body = h.contract_agreement(
            self.proc.own_pid,
            self.proc.consumer_pid,
            self.proc.dataset_id,
            self.sc.cut_id,
            self.sc.cp.address,
        )
        self._send("/agreement", body, expect_error)
        if not expect_error:
            self.proc.move("AGREED")

    def send_finalized(self, expect_error: bool = False) -> None:
        body = h.negotiation_event(self.proc.own_pid, self.proc.consumer_pid, "FINALIZED")
        self._send("/events", body, expect_error)
        if not expect_error:
            self.proc.move("FINALIZED")

    def send_termination(self, expect_error: bool = False) -> None:
        h.pause()
        body = h.negotiation_termination(self.proc.own_pid, self.proc.consumer_pid)
        self._send("/termination", body, expect_error)
        if not expect_error:
            self.proc.move("TERMINATED")

    def verify_consumer_state(self, state: str) -> None:
        """A single GET on the node's negotiation at its callback address (as the TCK)."""
        h.pause()
        self._check_view(self._get_view(), state)


class TransferAsProvider(_Flow):
    def __init__(self, scenario: Scenario, agreement_id: str, fmt: str) -> None:
        process = Process(
            "transfer", str(uuid.uuid4()), "provider", agreement_id=agreement_id, format=fmt
        )
        super().__init__(scenario, process)

    def initiate(self) -> None:
        """Ask the node, through its webhook, to request a transfer from the TCK."""
        self.http.post_plain(
            self.sc.node.transfer_webhook,
            {
                "providerId": h.TCK_PARTICIPANT,
                "agreementId": self.proc.agreement_id,
                "format": self.proc.format,
                "connectorAddress": self.sc.cp.address,
            },
        )

    def expect_request(self) -> None:
        self._expect(
            "TransferRequestMessage",
            "/transfers/request",
            "TransferRequestMessage",
            self._on_request,
        )

    def expect_start(self) -> None:
        """A consumer-side resume (only the disabled TP_C:02-04 needs it)."""
        self._expect(
            "TransferStartMessage",
            self._own_path("start"),
            "TransferStartMessage",
            self._moves("STARTED"),
        )

    def expect_completion(self) -> None:
        self._expect(
            "TransferCompletionMessage",
            self._own_path("completion"),
            "TransferCompletionMessage",
            self._moves("COMPLETED"),
        )

    def expect_suspension(self) -> None:
        self._expect(
            "TransferSuspensionMessage",
            self._own_path("suspension"),
            "TransferSuspensionMessage",
            self._moves("SUSPENDED"),
        )

    def expect_termination(self) -> None:
        self._expect(
            "TransferTerminationMessage",
            self._own_path("termination"),
            "TransferTerminationMessage",
            self._moves("TERMINATED"),
        )

    def _on_request(self, body: Json) -> tuple[int, Json]:
        for key, value in (("agreementId", self.proc.agreement_id), ("format", self.proc.format)):
            if body.get(key) != value:
                raise Reject(f"{key} is {body.get(key)!r}, the webhook said {value!r}")
        with self.proc.lock:
            self.proc.peer_pid = body["consumerPid"]
            # used as given, like the TCK does for transfers: no trailing slash please
            self.proc.peer_address = body["callbackAddress"]
        self.sc.track(self.proc.peer_pid)
        self.proc.move("REQUESTED")
        return 201, self._view("REQUESTED")

    def _moves(self, to: str) -> Handler:
        def handler(body: Json) -> tuple[int, Json]:
            self._receive(body, to)
            return 200, self._view(to)

        return handler

    def send_start(self, address: Json | None = None, expect_error: bool = False) -> None:
        body = h.transfer_start(self.proc.own_pid, self.proc.consumer_pid, address)
        self._send("/start", body, expect_error)
        if not expect_error:
            self.proc.move("STARTED")

    def send_completion(self, expect_error: bool = False) -> None:
        self._send(
            "/completion",
            h.transfer_completion(self.proc.own_pid, self.proc.consumer_pid),
            expect_error,
        )
        if not expect_error:
            self.proc.move("COMPLETED")

    def send_suspension(self, expect_error: bool = False) -> None:
        self._send(
            "/suspension",
            h.transfer_suspension(self.proc.own_pid, self.proc.consumer_pid),
            expect_error,
        )
        if not expect_error:
            self.proc.move("SUSPENDED")

    def send_termination(self, expect_error: bool = False) -> None:
        self._send(
            "/termination",
            h.transfer_termination(self.proc.own_pid, self.proc.consumer_pid),
            expect_error,
        )
        if not expect_error:
            self.proc.move("TERMINATED")

    def verify_consumer_state(self, state: str) -> None:
        """Poll the node's transfer at its callback address until it shows ``state`` (as the TCK)."""
        self._poll_node_state(state)
