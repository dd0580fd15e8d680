"""A product version made of several files: names, the version hash, table names.  Pure.

A version holds one or more files.  Its **version hash** is:
- for one file, that file's SHA-256;
- for several, the SHA-256 of the manifest: one line ``<sha256>  <name>`` per file, sorted by
  name, each ending in a newline.  That is the output of ``sha256sum`` over the files sorted by
  name, so anyone holding the files can recompute it without this software.

File names are plain names (no folders), unique in a version, and each file is also a table for
compute-to-data, named by the file name without its extension.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

FILESET_MEDIA_TYPE = "application/vnd.trustspace.fileset+json"
"""What the data plane answers at a multi-file transfer's root: the manifest, as JSON."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def manifest(files: Iterable[tuple[str, str]]) -> str:
    """The ``sha256sum`` manifest of (name, sha256) pairs, sorted by name."""
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(files))


def version_hash(files: Iterable[tuple[str, str]]) -> str:
    pairs = list(files)
    if len(pairs) == 1:
        return pairs[0][1]
    return hashlib.sha256(manifest(pairs).encode()).hexdigest()


def table_name(filename: str) -> str:
    """``orders.parquet`` -> ``orders``; ``sales.2026.csv`` -> ``sales``."""
    return filename.split(".", 1)[0]


def name_problem(names: list[str]) -> str | None:
    """Why these file names cannot make one version, or None."""
    if not names:
        return "a version needs at least one file"
    for name in names:
        if not _NAME.fullmatch(name):
            return (
                f"file name {name!r}: use letters, digits, '.', '_' or '-', starting with a"
                " letter or digit (no folders)"
            )
    if len(set(names)) != len(names):
        return "two files have the same name; give each file of a version its own name"
    if len(names) > 1:
        tables = [table_name(n) for n in names]
        for name, table in zip(names, tables, strict=True):
            if not _TABLE.fullmatch(table):
                return f"file name {name!r}: its table name {table!r} is not an SQL identifier"
        if len(set(tables)) != len(tables):
            return "two files would be the same table; name them apart before the first '.'"
    return None
