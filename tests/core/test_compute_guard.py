"""The compute guard: what a rule accepts, what it refuses and why, and the plan it builds."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import pytest

from trustspace.core.compute import GuardError, Limits, check, parse_rule
from trustspace.core.compute import release as rel

RULE: dict[str, Any] = {
    "table": "t",
    "entity": "pid",
    "columns": {"ward": ["group"], "day": ["group", "filter"], "age": ["filter", "aggregate"],
                "amount": ["aggregate"], "city": ["filter"]},
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": 3,
}  # fmt: skip
DP = {**RULE, "dp": {"epsilonPerQuery": 0.5, "budget": 2, "bounds": {"amount": [0, 100]}}}


@pytest.mark.parametrize(
    "query",
    [
        "SELECT ward, COUNT(*) FROM t GROUP BY ward",
        "SELECT ward, day, SUM(amount) AS s, AVG(age) FROM t WHERE city = 'x' AND age > 30 GROUP BY ward, day",
        "SELECT COUNT(DISTINCT pid) FROM t",
        "SELECT ROUND(AVG(amount), 2) AS mean FROM t",
        "SELECT ward, SUM(amount * 2 + age / 4 - 1) FROM t GROUP BY ward ORDER BY ward LIMIT 5",
        "select ward, count(*) from t where day between '2026-01-01' and '2026-02-01' group by ward",
        "SELECT x.ward, COUNT(1) FROM t AS x WHERE NOT (x.city IN ('a', 'b') OR x.age <= -3) GROUP BY 1",
        "SELECT COUNT(*) FROM t WHERE city LIKE 'b%' AND city IS NOT NULL AND 40 > age",
        "FROM t SELECT ward, SUM(-amount) GROUP BY ward ORDER BY 2 DESC",
        "SELECT COUNT(*) FROM t WHERE " + " OR ".join(f"age = {i}" for i in range(300)),
    ],
)
def test_accepted(query: str) -> None:
    plan = check(parse_rule(RULE), query)
    assert "HAVING COUNT(DISTINCT" in plan.sql() and ">= 3" in plan.sql()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM t", "SELECT * returns rows"),
        ("SELECT ward FROM t GROUP BY ward", "returns rows, not aggregates"),
        ("SELECT DISTINCT ward FROM t", "SELECT DISTINCT"),
        ("SELECT amount FROM t", "'amount' may only be used inside an aggregate"),
        # A bare column without GROUP BY asks for rows: say so, whatever the column's roles.
        (
            "SELECT city FROM t",
            "SELECT: 'city' without GROUP BY is a row-level query: select"
            " aggregates (COUNT, SUM, AVG); column 'city' may not be grouped on",
        ),
        (
            "SELECT ward, COUNT(*) FROM t",
            "SELECT: 'ward' without GROUP BY is a row-level query:"
            " select aggregates (COUNT, SUM, AVG) or GROUP BY the column",
        ),
        ("SELECT amount FROM t", "'amount' without GROUP BY is a row-level query"),
        ("SELECT city, COUNT(*) FROM t GROUP BY city", "'city' may not be grouped on"),
        ("SELECT COUNT(*) FROM t WHERE pid = 1", "WHERE: column 'pid' may not be filtered on"),
        (
            "SELECT COUNT(*) FROM t WHERE amount > 5",
            "WHERE: column 'amount' may not be filtered on",
        ),
        ("SELECT SUM(city) FROM t", "'city' may not be aggregated"),
        (
            "SELECT MAX(amount) FROM t",
            "MAX is not allowed: a minimum or maximum is one entity's value",
        ),
        ("SELECT MIN(amount) FROM t", "MIN is not allowed"),
        ("SELECT COUNT(*) FROM u", "product table 't', not u"),
        ("SELECT COUNT(*) FROM t JOIN t AS u ON t.pid = u.pid", "the rule allows no join with 't'"),
        ("SELECT COUNT(*) FROM t, t", "the rule allows no join"),
        ("SELECT COUNT(*) FROM (SELECT * FROM t)", "subqueries are not allowed"),
        ("SELECT COUNT(*) FROM t WHERE EXISTS (SELECT 1 FROM t WHERE age = 27)", "subqueries"),
        ("SELECT COUNT(*) FROM t WHERE age IN (SELECT age FROM t)", "subqueries"),
        ("SELECT (SELECT COUNT(*) FROM t) FROM t", "subqueries"),
        ("WITH x AS (SELECT * FROM t) SELECT COUNT(*) FROM x", "WITH (CTEs) is not allowed"),
        ("SELECT COUNT(*) FROM t UNION SELECT COUNT(*) FROM t", "set operations"),
        ("SELECT COUNT(*) OVER () FROM t", "WINDOW"),
        ("SELECT ward, COUNT(*) FROM t GROUP BY ward HAVING COUNT(*) > 1", "HAVING"),
        (
            "SELECT ward, upper(ward), COUNT(*) FROM t GROUP BY ward",
            "function UPPER is not allowed",
        ),
        ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", "only the product's tables"),
        ("SELECT COUNT(*) FROM information_schema.tables", "only the product's tables"),
        ("SELECT nothing, COUNT(*) FROM t GROUP BY nothing", "no column 'nothing'"),
        ("SELECT day, COUNT(*) FROM t GROUP BY ward", "'day' must be in GROUP BY"),
        ("SELECT SUM(amount) + 1 FROM t", "mixes an aggregate into an expression"),
        ("DROP TABLE t", "exactly one SELECT"),
        ("SELECT COUNT(*) FROM t; SELECT COUNT(*) FROM t", "exactly one SELECT"),
        ("SELECT COUNT(* FROM t", "does not parse"),
        # aggregates whose argument could select rows
        ("SELECT COUNT(pid = 7 AND amount <= 70 OR NULL) FROM t", "COUNT(column)"),
        ("SELECT SUM(amount <= 70) FROM t", "select rows"),
        ("SELECT SUM(CASE WHEN age = 27 THEN amount END) FROM t", "select rows"),
        ("SELECT SUM(amount * age) FROM t", "a product of columns is not linear"),
        ("SELECT SUM(amount / age) FROM t", "divide only by a non-zero number"),
        ("SELECT SUM(amount / 0) FROM t", "divide only by a non-zero number"),
        ("SELECT SUM(amount % 7) FROM t", "MOD is not allowed inside an aggregate"),
        ("SELECT SUM(amount // 7) FROM t", "INTDIV is not allowed inside an aggregate"),
        ("SELECT SUM(COALESCE(amount, 0)) FROM t", "function COALESCE is not allowed inside"),
        ("SELECT SUM(amount::INT) FROM t", "CAST is not allowed inside an aggregate"),
        ("SELECT COUNT(amount) FROM t", "COUNT(column) selects the rows"),
        ("SELECT COUNT(DISTINCT ward) FROM t", "counts only the entity"),
        ("SELECT SUM(pid) FROM t", "the entity 'pid' may appear only as COUNT(DISTINCT pid)"),
        ("SELECT COUNT(*) FILTER (WHERE age = 27) FROM t", "SELECT: FILTER"),
        # predicates that are not column-versus-constant
        ("SELECT COUNT(*) FROM t WHERE age > day", "expected a constant"),
        ("SELECT COUNT(*) FROM t WHERE age = NULL", "IS NULL"),
        ("SELECT COUNT(*) FROM t WHERE lower(city) = 'x'", "expected a column"),
        (
            "SELECT COUNT(*) FROM t WHERE age IN (1, 'a')",
            "IN takes a list of constants of one kind",
        ),
        ("SELECT COUNT(*) FROM t WHERE city LIKE 'x' ESCAPE '!'", "ESCAPE is not allowed"),
        ("SELECT COUNT(*) FROM t WHERE TRUE", "not allowed"),
        ("SELECT COUNT(*) FROM t GROUP BY ALL", "GROUP BY ALL is not allowed"),
        ("SELECT ward, COUNT(*) FROM t GROUP BY ROLLUP (ward)", "group by columns, not ROLLUP"),
        ("SELECT COUNT(*) FROM t ORDER BY age", "order by an output"),
        ("SELECT COUNT(*) FROM t LIMIT age", "LIMIT takes a whole number"),
    ],
)
def test_refused_with_the_reason(query: str, reason: str) -> None:
    with pytest.raises(GuardError) as err:
        check(parse_rule(RULE), query)
    assert reason in str(err.value), str(err.value)


def test_bounds_refuse_quickly_and_never_recurse() -> None:
    rule = parse_rule(RULE)
    deep = "SELECT COUNT(*) FROM t WHERE " + "(" * 60 + "age = 1" + ")" * 60
    long_or = "SELECT COUNT(*) FROM t WHERE " + " OR ".join(f"age = {i}" for i in range(14_000))
    many_nots = "SELECT COUNT(*) FROM t WHERE " + "NOT " * 400 + "age = 1"
    sums = "SELECT SUM(" + "amount + " * 1200 + "amount) FROM t"
    for query, reason in ((deep, "parentheses deep"), (long_or, "bytes"),
                          (many_nots, "nests too deeply"), (sums, "tokens")):  # fmt: skip
        with pytest.raises(GuardError) as err:
            check(rule, query)
        assert reason in str(err.value)
    with pytest.raises(GuardError, match="tokens"):
        check(rule, "SELECT COUNT(*) FROM t WHERE age IN (" + ", ".join("1" * 50) + ")",
              Limits(max_bytes=100_000, max_tokens=40))  # fmt: skip


def test_the_plan_runs_totally_and_rebuilds_the_query() -> None:
    """The engine runs the plan's SQL, never the text: names are the plan's, every column is
    read with TRY_CAST, so text in a numeric column cannot fail the job."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT range AS pid, 'w' || (range % 2) AS ward, '2026-01-01' AS day,"
        " CASE WHEN range = 3 THEN 'oops' ELSE (20 + range)::VARCHAR END AS age,"
        " range * 1.0 AS amount, 'x' AS city FROM range(20)"
    )
    plan = check(parse_rule(RULE), "SELECT ward AS w, COUNT(*) AS n, SUM(age) AS s FROM t"
                                   " WHERE age > 21 GROUP BY ward")  # fmt: skip
    rows = con.execute(plan.sql()).fetchall()
    assert sorted((r[0], r[1], r[2]) for r in rows) == [("w0", 9, 9 * 20 + 2 * sum(range(2, 20, 2)) / 2),
                                                        ("w1", 8, sum(20 + i for i in range(5, 20, 2)))]  # fmt: skip
    assert [o.name for o in plan.outputs] == ["w", "n", "s"]
    audit = con.execute(plan.audit_sql()).fetchall()
    assert len(audit) == 17 and len({r[1] for r in audit}) == 2  # one row class per row


def test_differential_privacy_plans_clamp_cap_and_price_each_output() -> None:
    rule = parse_rule({**DP, "dp": {**DP["dp"], "maxRowsPerEntity": 3}})
    plan = check(rule, "SELECT ward, COUNT(*) AS n, SUM(amount * 2) AS s FROM t GROUP BY ward")
    assert plan.epsilon == 0.5
    assert [(o.kind, o.sensitivity) for o in plan.outputs] == [
        ("group", 0.0), ("count", 3.0), ("sum", 600.0)]  # fmt: skip
    assert plan.threshold_sensitivity == 3.0 and rel.noisy_outputs(plan) == 3
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range % 4 AS pid, 'a' AS ward, CASE WHEN range = 0"
                " THEN 1e9 ELSE 1 END AS amount, 1 AS age, 'd' AS day, 'c' AS city FROM range(40)")  # fmt: skip
    row = con.execute(plan.sql()).fetchone()
    assert row is not None and row[1] == 12  # four entities, at most three rows each
    assert row[2] <= 2 * (100 + 11)  # the outlier is clamped to its bound before summing
    con.execute("DELETE FROM t")
    con.execute("INSERT INTO t SELECT range % 4, 'a', CASE WHEN range = 0 THEN 1e9 ELSE 1 END,"
                " 1, 'd', 'c' FROM range(12)")  # fmt: skip
    row = con.execute(plan.sql()).fetchone()
    assert row is not None and (row[1], row[2]) == (12, 2 * (100 + 11))
    for query, reason in (("SELECT AVG(amount) FROM t", "AVG is not allowed under differential privacy"),
                          ("SELECT SUM(age) FROM t", "SUM of age needs bounds")):  # fmt: skip
        with pytest.raises(GuardError) as err:
            check(rule, query)
        assert reason in str(err.value)
    threshold = rel.release_threshold(plan)
    assert threshold == pytest.approx(3 + 3.0 / (0.5 / 3) * math.log(1 / 2e-6))


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"table": "t"}, "needs table, entity and columns"),
        ({**RULE, "columns": {"a": ["sing"]}}, "unknown roles"),
        ({**RULE, "columns": {"pid": ["group"]}}, "is the entity"),
        ({**RULE, "aggregates": ["median"]}, "unknown aggregates"),
        ({**RULE, "aggregates": ["count", "max"]}, "MIN and MAX are not offered"),
        ({**RULE, "groupPolicy": "refuse"}, "groupPolicy is suppress"),
        ({**RULE, "approval": "sometimes"}, "auto or manual"),
        ({**RULE, "dp": {"epsilonPerQuery": 0}}, "positive epsilonPerQuery"),
        (
            {**RULE, "dp": {"epsilonPerQuery": 1, "budget": 2, "maxRowsPerEntity": 0}},
            "maxRowsPerEntity",
        ),
        (
            {**RULE, "dp": {"epsilonPerQuery": 1, "budget": 2}, "thresholdOnly": {"reason": "x"}},
            "not both",
        ),
        ({**RULE, "thresholdOnly": {}}, "thresholdOnly is"),
        ({**RULE, "minGroupSize": 0}, "minGroupSize must be at least 1"),
        (
            {
                **RULE,
                "joins": [{"table": "s", "left": "pid", "right": "p", "columns": {"p": ["group"]}}],
            },
            "holds the entity, so it takes no role",
        ),
    ],
)
def test_bad_rules_are_refused(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(GuardError) as err:
        parse_rule(doc)
    assert reason in str(err.value)


def test_release_orders_after_noise_and_never_by_engine_order() -> None:
    plan = check(parse_rule(RULE), "SELECT ward, COUNT(*) AS n FROM t GROUP BY ward"
                                   " ORDER BY n DESC LIMIT 2")  # fmt: skip
    rows = [("b", 5, 5, 1), ("a", 9, 9, 2), ("c", 7, 7, 3)]
    groups = rel.candidates(plan, rows)
    assert rel.finish(plan, [g.values for g in groups]) == [["a", 9], ["c", 7]]
    unordered = check(parse_rule(RULE), "SELECT ward, COUNT(*) FROM t GROUP BY ward")
    assert rel.finish(unordered, [g.values for g in reversed(groups)]) == [
        ["a", 9],
        ["b", 5],
        ["c", 7],
    ]
