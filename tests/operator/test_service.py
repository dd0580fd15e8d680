"""The operator's use cases on SQLite and PostgreSQL: applications, decisions, standing, keys."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.core.registry import uscc_check_char, uscc_problem
from trustspace.operator.service import LocalAnchors, Operator
from trustspace.services.errors import NotFound, Refused
from trustspace.store.db import Database
from trustspace.trust.credentials import jwk_key, read_checkpoint, verify_credential
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import AuthError

CODE = "91110108MA01KPGG0" + uscc_check_char("91110108MA01KPGG0")


def _application(key: NodeKey, **changes: Any) -> str:
    fields = {
        "participantId": "hospital",
        "legalName": "Hospital Co., Ltd.",
        "registrationNumber": CODE,
        "region": "CN-BJ",
        "sector": "health",
        "contact": "data@hospital.example",
        "dspUrl": "https://hospital.example/dsp/2025-1",
        "publicKey": key.public_b64,
        "roles": ["provider"],
        "iat": int(time.time()),
        **changes,
    }
    return jwt.encode(fields, key.private_key, algorithm="EdDSA")


@pytest.fixture
def operator(db: Database, tmp_path: Path) -> Operator:  # noqa: F811
    return Operator(db, "space-a", tmp_path / "keys")


def test_uscc_checksum() -> None:
    assert uscc_problem(CODE) is None
    wrong = CODE[:17] + ("0" if CODE[17] != "0" else "1")
    assert "check character" in str(uscc_problem(wrong))
    assert "18 characters" in str(uscc_problem(CODE[:-1]))
    assert "never uses" in str(uscc_problem("I" + CODE[1:]))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"registrationNumber": CODE[:17] + "Y"}, "check character"),
        ({"region": "China"}, "not an ISO 3166 code"),
        ({"sector": "space-mining"}, "sector 'space-mining'"),
        ({"roles": ["operator"]}, "not given to members"),
        ({"dspUrl": "ftp://x"}, r"not an http\(s\) URL"),
        ({"legalName": ""}, "legalName must be a non-empty string"),
        ({"iat": 1}, "too old"),
    ],
)
def test_bad_applications_are_refused_naming_the_problem(
    operator: Operator, changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(Refused, match=problem):
        operator.apply(_application(NodeKey.generate(), **changes))
    assert operator.applications() == []


def test_an_application_must_be_signed_by_the_key_it_names(operator: Operator) -> None:
    key, other = NodeKey.generate(), NodeKey.generate()
    forged = _application(key, publicKey=other.public_b64)
    with pytest.raises(Refused, match="not signed by the key it names"):
        operator.apply(forged)


def test_approval_issues_a_credential_and_standing_reaches_the_status_list(
    operator: Operator,
) -> None:
    key = NodeKey.generate()
    app = operator.apply(_application(key))
    with pytest.raises(Refused, match="pending application"):
        operator.apply(_application(key))
    approved = operator.approve(app["id"])
    with pytest.raises(Refused, match="already approved"):
        operator.approve(app["id"])
    anchors = LocalAnchors(operator)
    member, bound, _ = verify_credential(
        approved["credential"], anchors, ["space-a"], now=time.time()
    )
    assert (member.participant_id, member.region, member.roles) == (
        "hospital",
        "CN-BJ",
        ("provider",),
    )
    assert bound.public_bytes_raw() == key.public_key.public_bytes_raw()
    operator.set_status("hospital", "suspend", "audit pending")
    anchors = LocalAnchors(operator)
    with pytest.raises(AuthError, match="suspended: audit pending"):
        verify_credential(approved["credential"], anchors, ["space-a"], now=time.time())
    operator.set_status("hospital", "reinstate", "")
    assert LocalAnchors(operator).standing("hospital") is None
    operator.set_status("hospital", "revoke", "fraud")
    with pytest.raises(Refused, match="revocation is final"):
        operator.set_status("hospital", "reinstate", "")
    with pytest.raises(Refused, match="give a reason"):
        operator.set_status("hospital", "suspend", "")
    with pytest.raises(NotFound):
        operator.set_status("nobody", "suspend", "x")


def test_operator_key_rotation_keeps_old_credentials_valid(operator: Operator) -> None:
    key = NodeKey.generate()
    old = operator.approve(operator.apply(_application(key))["id"])["credential"]
    operator.rotate_key()
    new = operator.renew("hospital")
    anchors = LocalAnchors(operator)
    for credential in (old, new):
        verify_credential(credential, anchors, ["space-a"], now=time.time())
    assert [k["status"] for k in operator.jwks()["keys"]] == ["retired", "active"]


def test_the_operator_keeps_each_members_countersigned_checkpoints(operator: Operator) -> None:
    first, second, other = "a" * 64, "b" * 64, "c" * 64
    operator.countersign("hospital", 10, first)
    operator.countersign("hospital", 20, second)
    operator.countersign("lab", 5, other)
    assert operator.countersign("hospital", 20, second)  # the same head again: the same answer
    record = operator.member_checkpoints("hospital")
    assert [(c["seq"], c["hash"]) for c in record] == [(10, first), (20, second)]
    keys = {k["kid"]: jwk_key(k) for k in operator.jwks()["keys"]}
    claims = [read_checkpoint(c["token"], keys) for c in record]
    assert [(c["iss"], c["sub"], c["seq"], c["hash"]) for c in claims] == [
        ("space-a", "hospital", 10, first),
        ("space-a", "hospital", 20, second),
    ]
    with pytest.raises(Refused, match="cannot shrink"):
        operator.countersign("hospital", 15, first)
