"""The parse-tree plumbing the guard is built from: the query's size and nesting bounds, and
small total walks over sqlglot nodes (unwrapping parentheses, flattening connector chains
without recursion, refusing a node with arguments the guard does not know).  Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from trustspace.core.compute.rule import GuardError, Rule

MAX_PARENS = 16  # sqlglot's parser recurses per level; deeper nesting is refused before parsing
MAX_DEPTH = 32  # nesting of the accepted grammar (connector chains do not count)


@dataclass(frozen=True)
class Limits:
    """How large a query may be; node settings ``compute_max_query_bytes`` and
    ``compute_max_query_tokens``."""

    max_bytes: int = 16_384
    max_tokens: int = 2_000


DEFAULT_LIMITS = Limits()


def describe(node: exp.Expr) -> str:
    """A short name for a node in a refusal: the function or construct, never data."""
    if isinstance(node, exp.Anonymous):
        return f"function {str(node.this).upper()[:40]}"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    if isinstance(node, exp.Subquery | exp.Select | exp.Exists) or node.find(exp.Select):
        return "a subquery"
    return node.key.upper()


def extra_args(node: exp.Expr, allowed: set[str]) -> str | None:
    for key, value in node.args.items():
        if key not in allowed and value not in (None, False, [], ""):
            return key
    return None


def only(node: exp.Expr, allowed: set[str], clause: str) -> None:
    extra = extra_args(node, allowed)
    if extra is not None:
        raise GuardError(f"{clause}: {describe(node)} with {extra.upper()} is not allowed")


def unparen(node: exp.Expr) -> exp.Expr:
    while type(node) is exp.Paren:
        only(node, {"this"}, "query")
        node = node.this
    return node


def flatten(node: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    """The operands of a chain ``a kind b kind c`` (through parentheses), without recursion."""
    out: list[exp.Expr] = []
    stack = [node]
    while stack:
        item = unparen(stack.pop())
        if type(item) is kind:
            only(item, {"this", "expression"}, "WHERE")
            stack.append(item.expression)
            stack.append(item.this)
        else:
            out.append(item)
    return out


def bounded_tokens(rule: Rule, sql: str, limits: Limits) -> list[Token]:
    """The query's tokens, once its size, token count and parenthesis depth are in bounds."""
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise GuardError(f"the query is {size} bytes; at most {limits.max_bytes} are accepted")
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except (SqlglotError, ValueError, RecursionError) as exc:
        raise GuardError(f"the query does not parse: {str(exc).splitlines()[0][:200]}") from None
    if len(tokens) > limits.max_tokens:
        raise GuardError(
            f"the query has {len(tokens)} tokens; at most {limits.max_tokens} are accepted"
            " (use IN (...) instead of long OR chains)"
        )
    depth = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE):
            depth += 1
            if depth > MAX_PARENS:
                raise GuardError(f"the query nests more than {MAX_PARENS} parentheses deep")
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE):
            depth -= 1
    return tokens


def strip_alias(item: exp.Expr) -> exp.Expr:
    return item.this if type(item) is exp.Alias else item


def output_name(item: exp.Expr, i: int) -> tuple[str, exp.Expr]:
    if type(item) is exp.Alias:
        only(item, {"this", "alias"}, "SELECT")
        alias = item.args.get("alias")
        if type(alias) is not exp.Identifier:
            raise GuardError("SELECT: an output name is a plain name")
        return str(alias.this)[:128], item.this
    if type(item) is exp.Column and type(item.this) is exp.Identifier:
        return str(item.this.this), item
    return unparen(item).sql(dialect="duckdb")[:128] or f"col{i}", item


def num(value: float) -> exp.Expr:
    literal = exp.Literal.number(
        repr(abs(value)) if not value.is_integer() else str(int(abs(value)))
    )
    return exp.Paren(this=exp.Neg(this=literal)) if value < 0 else literal


def scale(rng: tuple[float, float], factor: float) -> tuple[float, float]:
    a, b = rng[0] * factor, rng[1] * factor
    return (min(a, b), max(a, b)) if not (math.isnan(a) or math.isnan(b)) else (-math.inf, math.inf)


def limit(select: exp.Select, key: str) -> int | None:
    node = select.args.get(key)
    if node is None:
        return None
    only(node, {"expression"}, key.upper())
    value = unparen(node.expression)
    if type(value) is not exp.Literal or value.is_string or not str(value.this).isdigit():
        raise GuardError(f"{key.upper()} takes a whole number")
    return min(int(str(value.this)), 1_000_000)
