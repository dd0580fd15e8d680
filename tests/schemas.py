"""The official DSP 2025-1 JSON Schemas, for tests: every body the node emits is checked
against the schema for its ``@type`` (read from ``../shared/spec``, never copied here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

Json = dict[str, Any]

SCHEMA_FILES: dict[str, str] = {
    "Catalog": "catalog/catalog-schema.json",
    "Dataset": "catalog/dataset-schema.json",
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "DatasetRequestMessage": "catalog/dataset-request-message-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
    "ContractRequestMessage": "negotiation/contract-request-message-schema.json",
    "ContractOfferMessage": "negotiation/contract-offer-message-schema.json",
    "ContractAgreementMessage": "negotiation/contract-agreement-message-schema.json",
    "ContractAgreementVerificationMessage": "negotiation/contract-agreement-verification-message-schema.json",
    "ContractNegotiationEventMessage": "negotiation/contract-negotiation-event-message-schema.json",
    "ContractNegotiationTerminationMessage": "negotiation/contract-negotiation-termination-message-schema.json",
    "ContractNegotiation": "negotiation/contract-negotiation-schema.json",
    "ContractNegotiationError": "negotiation/contract-negotiation-error-schema.json",
    "TransferRequestMessage": "transfer/transfer-request-message-schema.json",
    "TransferStartMessage": "transfer/transfer-start-message-schema.json",
    "TransferSuspensionMessage": "transfer/transfer-suspension-message-schema.json",
    "TransferCompletionMessage": "transfer/transfer-completion-message-schema.json",
    "TransferTerminationMessage": "transfer/transfer-termination-message-schema.json",
    "TransferProcess": "transfer/transfer-process-schema.json",
    "TransferError": "transfer/transfer-error-schema.json",
}
VERSION_SCHEMA = "common/protocol-version-schema.json"


class Schemas:
    """The official DSP 2025-1 JSON Schemas (Draft 2019-09), each ``$id`` mapped to its file."""

    def __init__(self, root: Path) -> None:
        resources = []
        self._by_file: dict[str, Json] = {}
        for path in sorted(root.rglob("*-schema.json")):
            schema = _repair_refs(json.loads(path.read_text()))
            self._by_file[path.relative_to(root).as_posix()] = schema
            resources.append((schema["$id"], Resource.from_contents(schema, DRAFT201909)))
        self._registry: Registry[Any] = Registry().with_resources(resources)
        self._validators: dict[str, Draft201909Validator] = {}

    def validator(self, relative: str) -> Draft201909Validator:
        if relative not in self._validators:
            self._validators[relative] = Draft201909Validator(
                self._by_file[relative], registry=self._registry
            )
        return self._validators[relative]

    def errors(self, body: Any, type_name: str | None = None) -> list[str]:
        """Why ``body`` is not a valid DSP message (of ``type_name``, if given); [] if it is."""
        if not isinstance(body, dict):
            return [f"expected a JSON object, got {type(body).__name__}"]
        kind = body.get("@type")
        if not isinstance(kind, str):
            return [f"@type must be a string, got {kind!r}"]
        if type_name is not None and kind != type_name:
            return [f"expected @type {type_name}, got {kind}"]
        if kind not in SCHEMA_FILES:
            return [f"@type {kind} is not a DSP 2025-1 message or response type"]
        found = self.validator(SCHEMA_FILES[kind]).iter_errors(body)
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]

    def check_version(self, body: Any, where: str) -> Json:
        found = self.validator(VERSION_SCHEMA).iter_errors(body)
        problems = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found
        ]
        assert not problems, f"{where}: invalid version metadata: {problems}\n{show(body)}"
        assert isinstance(body, dict)
        return body

    def check(self, body: Any, where: str, type_name: str | None = None) -> Json:
        problems = self.errors(body, type_name)
        assert not problems, f"{where}: invalid DSP body: {problems}\n{show(body)}"
        assert isinstance(body, dict)
        return body


def _repair_refs(node: Any) -> Any:
    """Fix the fragment ``#definitions/...`` (no slash) that three 2025-1 transfer schemas use.

    A JSON Pointer fragment must start with ``/``; strict resolvers (``referencing``)
    refuse the published form.  The TCK never validates those three types.
    """
    if isinstance(node, dict):
        return {
            key: value.replace("#definitions/", "#/definitions/")
            if key == "$ref" and isinstance(value, str)
            else _repair_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_repair_refs(item) for item in node]
    return node


def show(body: Any) -> str:
    text = json.dumps(body, indent=1) if not isinstance(body, str) else body
    return text if len(text) < 3000 else text[:3000] + " ..."
