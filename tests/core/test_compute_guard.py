"""The compute guard: what a rule accepts, what it refuses and why, and how it rewrites."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from trustspace.core.compute import GuardError, check, parse_rule, release_problem

RULE: dict[str, Any] = {
    "table": "t",
    "entity": "pid",
    "columns": {"ward": ["group"], "day": ["group", "filter"], "age": ["filter", "aggregate"],
                "amount": ["aggregate"], "city": ["filter"]},
    "aggregates": ["count", "sum", "avg", "min"],
    "minGroupSize": 3,
}  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        "SELECT ward, COUNT(*) FROM t GROUP BY ward",
        "SELECT ward, day, SUM(amount) AS s, AVG(age) FROM t WHERE city = 'x' AND age > 30 GROUP BY ward, day",
        "SELECT COUNT(DISTINCT pid) FROM t",
        "SELECT ROUND(AVG(amount), 2) AS mean FROM t",
        "SELECT ward, MIN(amount) FROM t GROUP BY ward ORDER BY ward LIMIT 5",
        "select ward, count(*) from t where day between '2026-01-01' and '2026-02-01' group by ward",
    ],
)
def test_accepted(query: str) -> None:
    checked = check(parse_rule(RULE), query)
    assert "__group_size" in checked.sql and "HAVING COUNT(DISTINCT pid) >= 3" in checked.sql


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM t", "SELECT * returns rows"),
        ("SELECT ward FROM t GROUP BY ward", "returns rows, not aggregates"),
        ("SELECT DISTINCT ward FROM t", "SELECT DISTINCT"),
        ("SELECT amount FROM t", "'amount' may only be used inside an aggregate"),
        ("SELECT city, COUNT(*) FROM t GROUP BY city", "'city' may not be grouped on"),
        ("SELECT COUNT(*) FROM t WHERE pid = 1", "WHERE: column 'pid' may not be filtered on"),
        (
            "SELECT COUNT(*) FROM t WHERE amount > 5",
            "WHERE: column 'amount' may not be filtered on",
        ),
        ("SELECT SUM(city) FROM t", "'city' may not be aggregated"),
        ("SELECT MAX(amount) FROM t", "aggregate MAX is not allowed"),
        ("SELECT COUNT(*) FROM u", "product table 't', not u"),
        ("SELECT COUNT(*) FROM t JOIN t AS u ON t.pid = u.pid", "joins are not allowed"),
        ("SELECT COUNT(*) FROM (SELECT * FROM t)", "subqueries are not allowed"),
        ("WITH x AS (SELECT * FROM t) SELECT COUNT(*) FROM x", "CTEs"),
        ("SELECT COUNT(*) FROM t UNION SELECT COUNT(*) FROM t", "exactly one SELECT"),
        ("SELECT ward, COUNT(*) OVER () FROM t", "window functions"),
        ("SELECT ward, COUNT(*) FROM t GROUP BY ward HAVING COUNT(*) > 1", "HAVING"),
        (
            "SELECT ward, upper(ward), COUNT(*) FROM t GROUP BY ward",
            "function UPPER is not allowed",
        ),
        ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", "must read the product table"),
        ("SELECT nothing, COUNT(*) FROM t GROUP BY nothing", "no column 'nothing'"),
        ("SELECT day, COUNT(*) FROM t GROUP BY ward", "'day' must be in GROUP BY"),
        ("SELECT SUM(amount) + 1 FROM t", "mixes an aggregate into an expression"),
        ("DROP TABLE t", "exactly one SELECT"),
        ("SELECT COUNT(* FROM t", "does not parse"),
    ],
)
def test_refused_with_the_reason(query: str, reason: str) -> None:
    with pytest.raises(GuardError, match=None) as err:
        check(parse_rule(RULE), query)
    assert reason in str(err.value), str(err.value)


def test_differential_privacy_rewrites_sums_and_refuses_the_rest() -> None:
    rule = parse_rule(
        {**RULE, "dp": {"epsilonPerQuery": 0.5, "budget": 2, "bounds": {"amount": [0, 100]}}}
    )
    checked = check(rule, "SELECT ward, COUNT(*) AS n, SUM(amount) AS s FROM t GROUP BY ward")
    assert checked.epsilon == 0.5
    assert [(o.kind, o.sensitivity) for o in checked.outputs] == [
        ("group", 0.0),
        ("count", 1.0),
        ("sum", 100.0),
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS pid, 'a' AS ward, CASE WHEN range = 0 THEN 1e9 ELSE 1 END"
                " AS amount FROM range(5)")  # fmt: skip
    row = con.execute(checked.sql).fetchone()
    assert row is not None and row[2] == 100 + 4  # the outlier is clamped to its bound
    for query, reason in (("SELECT AVG(amount) FROM t", "AVG is not allowed under differential privacy"),
                          ("SELECT SUM(age) FROM t", "SUM of age needs bounds"),
                          ("SELECT COUNT(DISTINCT pid) FROM t", "COUNT(DISTINCT")):  # fmt: skip
        with pytest.raises(GuardError) as err:
            check(rule, query)
        assert reason in str(err.value)


def test_refuse_policy_and_result_size() -> None:
    rule = parse_rule({**RULE, "groupPolicy": "refuse", "maxRows": 2})
    assert (
        release_problem(rule, [("a", 5, 3), ("b", 1, 2)])
        == "1 output group(s) cover fewer than 3 entities"
    )
    assert release_problem(rule, [("a", 5, 3)] * 3) == "the result has more than 2 rows"
    assert release_problem(rule, [("a", 5, 3)]) is None
    assert "HAVING" not in check(rule, "SELECT COUNT(*) FROM t").sql


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"table": "t"}, "needs table, entity and columns"),
        ({**RULE, "columns": {"a": ["sing"]}}, "unknown roles"),
        ({**RULE, "aggregates": ["median"]}, "unknown aggregates"),
        ({**RULE, "groupPolicy": "ignore"}, "suppress or refuse"),
        ({**RULE, "approval": "sometimes"}, "auto or manual"),
        ({**RULE, "dp": {"epsilonPerQuery": 0, "budget": 1}}, "positive epsilonPerQuery"),
    ],
)
def test_bad_rules(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(GuardError) as err:
        parse_rule(doc)
    assert reason in str(err.value)


def test_entity_per_row_sizes_groups_by_counting_rows() -> None:
    checked = check(
        parse_rule({**RULE, "entityPerRow": True}), "SELECT ward, COUNT(*) FROM t GROUP BY ward"
    )
    assert "HAVING COUNT(*) >= 3" in checked.sql and "DISTINCT" not in checked.sql
