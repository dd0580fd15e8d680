"""JSON from the network: nesting deeper than the limit is refused before parsing."""

from __future__ import annotations

import json

import pytest

from trustspace.core import jsondoc


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


@pytest.mark.parametrize("depth", [1, 10, jsondoc.MAX_DEPTH])
def test_documents_up_to_the_limit_parse(depth: int) -> None:
    assert jsondoc.loads(nested(depth).encode()) == json.loads(nested(depth))


@pytest.mark.parametrize("depth", [jsondoc.MAX_DEPTH + 1, 5_000, 200_000])
def test_deeper_documents_are_refused(depth: int) -> None:
    with pytest.raises(jsondoc.JsonError, match="deeper than 64"):
        jsondoc.loads(nested(depth).encode())


def test_objects_and_arrays_count_alike() -> None:
    text = '{"a":' * 40 + "[" * 25 + "]" * 25 + "}" * 40
    with pytest.raises(jsondoc.JsonError, match="deeper"):
        jsondoc.loads(text)
    assert jsondoc.loads('{"a":' * 39 + "[" * 25 + "]" * 25 + "}" * 39) is not None


def test_brackets_inside_strings_do_not_count() -> None:
    value = ["[" * 500, '{"x": "\\"[[[["}' * 100, "\\\\" + "[" * 100]
    assert jsondoc.loads(json.dumps(value)) == value


def test_many_shallow_containers_are_fine() -> None:
    value = [[i, {"k": [i]}] for i in range(5000)]
    assert jsondoc.loads(json.dumps(value).encode()) == value


@pytest.mark.parametrize(
    "raw", [b"{not json", b"\xff\xfe\xfa", b"", b'{"a": 1', b"[" * 10, b'"unterminated']
)
def test_what_is_not_json_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        jsondoc.loads(raw)


def test_utf16_is_read_as_json_allows() -> None:
    assert jsondoc.loads('{"a": [1]}'.encode("utf-16")) == {"a": [1]}
