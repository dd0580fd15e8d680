"""Helpers of the DSP TCK port: configuration, schemas, the TCK's HTTP rules, messages, state.

Everything here describes the TCK's side of a scenario.  The node under test is
only ever reached over HTTP; nothing of ``trustspace`` is imported except the
configuration values the real TCK would also be given (participant ids and the
``Authorization`` value), which live in :mod:`trustspace.tck.data`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.schemas import Schemas
from trustspace.tck import data as tckdata

Json = dict[str, Any]

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
TCK_PARTICIPANT = tckdata.TCK_PARTICIPANT
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT.parent / "shared" / "spec" / "dsp-2025-1"


# --- configuration ------------------------------------------------------------------------------


def setting(key: str, default: str) -> str:
    """A TCK configuration value: like the TCK, the environment may override the default."""
    value = os.environ.get(key, "").strip()
    return value or default


def default_wait() -> float:
    """Seconds to wait for each step (``dataspacetck.dsp.default.wait``)."""
    return float(setting("DATASPACETCK_DSP_DEFAULT_WAIT", "5"))


def _digits(scenario: str) -> str:
    """``CN_C_01_02`` -> ``0102``."""
    return "".join(scenario.split("_")[-2:])


def catalog_dataset(scenario: str) -> str:
    """``CAT_01_02`` -> ``CAT0102``."""
    return setting(f"{scenario}_DATASETID", f"CAT{_digits(scenario)}")


def negotiation_ids(scenario: str) -> tuple[str, str]:
    """``CN_01_01`` -> (dataset ``ACN0101``, offer ``CD123:ACN0101:456``)."""
    dataset = setting(f"{scenario}_DATASETID", f"ACN{_digits(scenario)}")
    return dataset, setting(f"{scenario}_OFFERID", f"CD123:{dataset}:456")


def consumer_negotiation_dataset(scenario: str) -> str:
    """``CN_C_01_01`` -> ``ACNC0101``."""
    return setting(f"{scenario}_DATASETID", f"ACNC{_digits(scenario)}")


def offer_id_for(dataset_id: str) -> str:
    """The offer id the TCK hands to the consumer webhook: ``offer`` + dataset id."""
    return f"offer{dataset_id}"


def transfer_ids(scenario: str) -> tuple[str, str]:
    """``TP_01_01`` -> (agreement ``ATP0101``, format); ``TP_C_01_01`` -> ``ATPC0101``."""
    prefix = "ATPC" if scenario.startswith("TP_C_") else "ATP"
    default = f"{prefix}{_digits(scenario)}"
    if scenario == "TP_C_01_05":
        default = "ATPC0104"  # what the TCK's published property files configure
    agreement = setting(f"{scenario}_AGREEMENTID", default)
    return agreement, setting(f"{scenario}_FORMAT", tckdata.TRANSFER_FORMAT)


# --- scenario tables ----------------------------------------------------------------------------

ScenarioFn = Callable[[Any], None]


def collector(table: dict[str, ScenarioFn]) -> Callable[[ScenarioFn], ScenarioFn]:
    """A decorator that files a scenario function under its TCK id (``cn_01_01`` -> ``CN_01_01``)."""

    def register(fn: ScenarioFn) -> ScenarioFn:
        table[fn.__name__.upper()] = fn
        return fn

    return register


def params(table: dict[str, ScenarioFn], disabled: dict[str, str] | None = None) -> list[Any]:
    """One pytest parameter per scenario, named like the TCK's test; disabled ones are skipped."""
    disabled = disabled or {}
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.skip(reason=disabled[name])] if name in disabled else [],
        )
        for name in table
    ]


# --- HTTP, with the TCK's rules -----------------------------------------------------------------


class DspHttp:
    """An HTTP client that applies the TCK's rules.

    * every request carries the configured ``Authorization`` value;
    * a 404 answer to a POST fails, even when an error is expected;
    * an expected error must be a 4xx (a 5xx or a success fails) and its body
      the protocol's error type;
    * when no error is expected, a 4xx other than 404 is retried: 3 attempts in
      all, 200 ms apart at first, doubling;
    * every body the node returns is JSON with a string ``@type`` and valid
      against that type's schema.
    """

    def __init__(self, schemas: Schemas, authorization: str, timeout: float = 10.0) -> None:
        self.schemas = schemas
        self.client = httpx.Client(
            timeout=timeout,
            headers={"Authorization": authorization, "Accept": "application/json"},
        )

    def close(self) -> None:
        self.client.close()

    def post(
        self,
        url: str,
        body: Json,
        *,
        expect_error: bool = False,
        error_type: str | None = None,
    ) -> httpx.Response:
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        backoff = 0.2
        for attempt in range(1, 4):
            response = self.client.post(url, content=payload, headers=headers)
            code = response.status_code
            if not expect_error and code != 404 and 400 <= code < 500 and attempt < 3:
                time.sleep(backoff)
                backoff *= 2
                continue
            break
        where = f"POST {url}"
        assert code != 404, f"{where}: unexpected 404 ({response.text[:500]})"
        if expect_error:
            self.check_error(response, where, error_type)
        else:
            assert 200 <= code < 300, f"{where}: unexpected status {code}: {response.text[:1000]}"
            if response.content.strip():
                self.schemas.check(_json(response, where), f"{where} -> {code}")
        return response

    def post_plain(self, url: str, body: Json) -> httpx.Response:
        """A webhook call: plain JSON, same retry and 404 rules, any 2xx is fine."""
        backoff = 0.2
        for attempt in range(1, 4):
            response = self.client.post(url, json=body)
            code = response.status_code
            if code != 404 and 400 <= code < 500 and attempt < 3:
                time.sleep(backoff)
                backoff *= 2
                continue
            break
        assert code != 404, f"POST {url}: unexpected 404 ({response.text[:500]})"
        assert 200 <= code < 300, f"POST {url}: unexpected status {code}: {response.text[:1000]}"
        return response

    def get(
        self, url: str, *, expect_error: bool = False, error_type: str | None = None
    ) -> httpx.Response:
        response = self.client.get(url)
        where = f"GET {url}"
        if expect_error:
            self.check_error(response, where, error_type, allow_404=True)
        else:
            code = response.status_code
            assert code != 404, f"{where}: unexpected 404 ({response.text[:500]})"
            assert 200 <= code < 300, f"{where}: unexpected status {code}: {response.text[:1000]}"
        return response

    def body(self, response: httpx.Response, type_name: str) -> Json:
        where = f"{response.request.method} {response.request.url} -> {response.status_code}"
        return self.schemas.check(_json(response, where), where, type_name)

    def check_error(
        self,
        response: httpx.Response,
        where: str,
        error_type: str | None,
        allow_404: bool = False,
    ) -> None:
        code = response.status_code
        assert not 200 <= code < 300, (
            f"{where}: the node accepted a message it must refuse ({code})"
        )
        assert 400 <= code < 500, (
            f"{where}: an error must be a 4xx, got {code}: {response.text[:500]}"
        )
        if not allow_404:
            assert code != 404, f"{where}: an invalid message must not be answered with 404"
        if error_type is not None:
            self.schemas.check(_json(response, where), f"{where} -> {code}", error_type)


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"{where}: the body is not JSON: {response.text[:500]!r}") from None


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.02)


def pause(seconds: float = 0.1) -> None:
    """The short pause the TCK takes before some of its steps."""
    time.sleep(seconds)


def new_pid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


# --- messages as the TCK writes them ------------------------------------------------------------


def _message(kind: str, **fields: Any) -> Json:
    return {"@context": [DSP_CONTEXT], "@id": str(uuid.uuid4()), "@type": kind, **fields}


def _use() -> list[Json]:
    return [{"action": "use", "constraint": []}]


def _reason(text: str) -> list[Json]:
    return [{"message": text}]


def catalog_request() -> Json:
    return _message("CatalogRequestMessage")


def contract_request(consumer_pid: str, offer_id: str, target: str, callback: str) -> Json:
    offer = {"@id": offer_id, "target": target, "@type": "Offer", "permission": _use()}
    return _message(
        "ContractRequestMessage", consumerPid=consumer_pid, offer=offer, callbackAddress=callback
    )


def counter_request(
    provider_pid: str, consumer_pid: str, offer_id: str, target: str, assigner: str
) -> Json:
    offer = {
        "@type": "Offer",
        "@id": offer_id,
        "permission": _use(),
        "target": target,
        "assignee": TCK_PARTICIPANT,
        "assigner": assigner,
    }
    return _message(
        "ContractRequestMessage", providerPid=provider_pid, consumerPid=consumer_pid, offer=offer
    )


def contract_offer(
    provider_pid: str, consumer_pid: str, offer_id: str, target: str, assignee: str
) -> Json:
    offer = {
        "@type": "Offer",
        "@id": offer_id,
        "permission": _use(),
        "target": target,
        "assignee": assignee,
        "assigner": TCK_PARTICIPANT,
    }
    return _message(
        "ContractOfferMessage", providerPid=provider_pid, consumerPid=consumer_pid, offer=offer
    )


def contract_agreement(
    provider_pid: str, consumer_pid: str, target: str, assignee: str, callback: str
) -> Json:
    agreement = {
        "@type": "Agreement",
        "@id": str(uuid.uuid4()),
        "target": target,
        "permission": _use(),
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "assignee": assignee,
        "assigner": TCK_PARTICIPANT,
    }
    return _message(
        "ContractAgreementMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        agreement=agreement,
        callbackAddress=callback,
    )


def negotiation_event(provider_pid: str, consumer_pid: str, event: str) -> Json:
    return _message(
        "ContractNegotiationEventMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        eventType=event,
    )


def verification(provider_pid: str, consumer_pid: str) -> Json:
    return _message(
        "ContractAgreementVerificationMessage", providerPid=provider_pid, consumerPid=consumer_pid
    )


def negotiation_termination(provider_pid: str, consumer_pid: str) -> Json:
    return _message(
        "ContractNegotiationTerminationMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code="1",
        reason=_reason("terminated by the TCK"),
    )


def negotiation_view(provider_pid: str, consumer_pid: str, state: str) -> Json:
    return _message(
        "ContractNegotiation", providerPid=provider_pid, consumerPid=consumer_pid, state=state
    )


def transfer_request(consumer_pid: str, agreement_id: str, fmt: str, callback: str) -> Json:
    return _message(
        "TransferRequestMessage",
        consumerPid=consumer_pid,
        agreementId=agreement_id,
        format=fmt,
        callbackAddress=callback,
    )


def data_address() -> Json:
    """The pull address the TCK sends in its TransferStartMessages."""
    return {
        "@type": "DataAddress",
        "endpoint": "http://example.com",
        "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
    }


def transfer_start(provider_pid: str, consumer_pid: str, address: Json | None) -> Json:
    extra = {"dataAddress": address} if address is not None else {}
    return _message(
        "TransferStartMessage", providerPid=provider_pid, consumerPid=consumer_pid, **extra
    )


def transfer_completion(provider_pid: str, consumer_pid: str) -> Json:
    return _message("TransferCompletionMessage", providerPid=provider_pid, consumerPid=consumer_pid)


def transfer_suspension(provider_pid: str, consumer_pid: str) -> Json:
    return _message(
        "TransferSuspensionMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code="1",
        reason=_reason("suspended by the TCK"),
    )


def transfer_termination(provider_pid: str, consumer_pid: str) -> Json:
    return _message(
        "TransferTerminationMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code="1",
        reason=_reason("terminated by the TCK"),
    )


def transfer_view(provider_pid: str, consumer_pid: str, state: str) -> Json:
    return _message(
        "TransferProcess", providerPid=provider_pid, consumerPid=consumer_pid, state=state
    )


def error_body(kind: str, provider_pid: str, consumer_pid: str, code: str, text: str) -> Json:
    """``kind`` is ContractNegotiationError or TransferError."""
    return _message(
        kind, providerPid=provider_pid, consumerPid=consumer_pid, code=code, reason=[text]
    )


# --- the TCK's own view of a process ------------------------------------------------------------

# The moves the TCK's own bookkeeping allows; a message from the node that asks
# for any other move is refused, as the TCK refuses it.
NEGOTIATION_MOVES: dict[str, frozenset[str]] = {
    "INITIALIZED": frozenset({"REQUESTED", "OFFERED", "TERMINATED"}),
    "REQUESTED": frozenset({"OFFERED", "AGREED", "TERMINATED"}),
    "OFFERED": frozenset({"REQUESTED", "OFFERED", "ACCEPTED", "TERMINATED"}),
    "ACCEPTED": frozenset({"AGREED", "TERMINATED"}),
    "AGREED": frozenset({"VERIFIED", "TERMINATED"}),
    "VERIFIED": frozenset({"FINALIZED", "TERMINATED"}),
    "FINALIZED": frozenset(),
    "TERMINATED": frozenset(),
}
TRANSFER_MOVES: dict[str, frozenset[str]] = {
    "INITIALIZED": frozenset({"REQUESTED"}),
    "REQUESTED": frozenset({"STARTED", "TERMINATED"}),
    "STARTED": frozenset({"SUSPENDED", "COMPLETED", "TERMINATED"}),
    "SUSPENDED": frozenset({"STARTED", "TERMINATED"}),
    "COMPLETED": frozenset(),
    "TERMINATED": frozenset(),
}


class IllegalMove(Exception):
    pass


@dataclass
class Process:
    """The TCK's record of one negotiation or transfer.

    ``own_pid`` is the TCK's process id; ``peer_pid`` the node's, once known;
    ``peer_address`` the URL prefix messages to the node go to.
    """

    kind: str  # "negotiation" or "transfer"
    own_pid: str
    role: str  # the TCK's role: "consumer" or "provider"
    state: str = "INITIALIZED"
    peer_pid: str | None = None
    peer_address: str = ""
    dataset_id: str = ""
    offer_id: str = ""
    agreement_id: str = ""
    format: str = ""
    starts: int = 0
    received: list[Json] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def provider_pid(self) -> str:
        pid = self.own_pid if self.role == "provider" else self.peer_pid
        assert pid is not None, "the provider's process id is not known yet"
        return pid

    @property
    def consumer_pid(self) -> str:
        pid = self.own_pid if self.role == "consumer" else self.peer_pid
        assert pid is not None, "the consumer's process id is not known yet"
        return pid

    def move(self, to: str) -> None:
        moves = NEGOTIATION_MOVES if self.kind == "negotiation" else TRANSFER_MOVES
        with self.lock:
            if to not in moves[self.state]:
                raise IllegalMove(f"the TCK's {self.kind} cannot go from {self.state} to {to}")
            self.state = to


# --- the node under test ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NodeProcess:
    """``trustspace serve --tck`` in its own process, logging to a file."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.dsp = f"{self.root}/dsp/2025-1"
        self.negotiation_webhook = f"{self.root}/tck/negotiations/requests"
        self.transfer_webhook = f"{self.root}/tck/transfers/requests"
        self.participant_id = tckdata.CUT_PARTICIPANT_DEFAULT
        self.log_path = log_path
        self.command = [
            sys.executable,
            "-m",
            "trustspace",
            "serve",
            "--tck",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
        ]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        url = f"{self.root}/.well-known/dspace-version"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited with {self.process.returncode}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the node did not answer GET {url} with 200 within {seconds:g} s")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, start: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
