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
        ("SELECT COUNT(*) FROM t JOIN t AS u ON t.pid = u.pid", "the rule allows no join with 't'"),
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


JOINED: dict[str, Any] = {
    **RULE,
    "joins": [{"table": "visits", "left": "pid", "right": "patient",
               "columns": {"cost": ["aggregate"], "kind": ["group", "filter"]}}],
}  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        "SELECT t.ward, SUM(v.cost) FROM t JOIN visits AS v ON t.pid = v.patient GROUP BY t.ward",
        "SELECT ward, kind, COUNT(*) FROM t JOIN visits ON visits.patient = t.pid GROUP BY ward, kind",
        "SELECT COUNT(*) FROM t INNER JOIN visits v ON t.pid = v.patient WHERE kind = 'x' AND age > 3",
    ],
)
def test_declared_joins_are_accepted_and_groups_count_entities(query: str) -> None:
    checked = check(parse_rule(JOINED), query)
    assert "COUNT(DISTINCT t.pid)" in checked.sql and ">= 3" in checked.sql, checked.sql


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT COUNT(*) FROM t LEFT JOIN visits v ON t.pid = v.patient", "only inner joins"),
        ("SELECT COUNT(*) FROM t CROSS JOIN visits", "only inner joins"),
        ("SELECT COUNT(*) FROM t JOIN visits v ON t.ward = v.patient", "join ON t.pid = visits.patient"),
        ("SELECT COUNT(*) FROM t JOIN visits v ON t.pid = v.patient AND v.cost > 1", "and nothing else"),
        ("SELECT COUNT(*) FROM t JOIN visits v ON pid = patient", "both columns qualified"),
        ("SELECT COUNT(*) FROM t JOIN visits USING (pid)", "once, with ON"),
        ("SELECT COUNT(*) FROM t JOIN visits v ON t.pid = v.patient JOIN visits w ON t.pid = w.patient",
         "join each table once"),
        ("SELECT COUNT(*) FROM t JOIN secrets s ON t.pid = s.pid", "no join with 'secrets'; joinable: visits"),
        ("SELECT COUNT(*) FROM visits", "must read the product table 't'"),
        ("SELECT v.cost, COUNT(*) FROM t JOIN visits v ON t.pid = v.patient GROUP BY v.cost",
         "'cost' may only be used inside an aggregate"),
        ("SELECT SUM(v.patient) FROM t JOIN visits v ON t.pid = v.patient", "no column 'patient' in visits"),
        ("SELECT COUNT(*) FROM t JOIN visits v ON t.pid = v.patient WHERE x.kind = 'a'", "'x' is not a table"),
    ],
)  # fmt: skip
def test_joins_outside_the_rule_are_refused(query: str, reason: str) -> None:
    with pytest.raises(GuardError) as err:
        check(parse_rule(JOINED), query)
    assert reason in str(err.value), str(err.value)


def test_a_column_in_two_tables_must_be_qualified() -> None:
    rule = parse_rule({**JOINED, "joins": [{**JOINED["joins"][0],
                                            "columns": {"ward": ["group"], "cost": ["aggregate"]}}]})  # fmt: skip
    with pytest.raises(GuardError, match="'ward' is in t and visits; qualify it"):
        check(rule, "SELECT ward, COUNT(*) FROM t JOIN visits v ON t.pid = v.patient GROUP BY ward")
    assert check(
        rule, "SELECT v.ward, COUNT(*) FROM t JOIN visits v ON t.pid = v.patient GROUP BY v.ward"
    )


@pytest.mark.parametrize(
    ("joins", "reason"),
    [
        ({}, "joins must be a list"),
        ([{"table": "v"}], "each join needs table, left"),
        ([{"table": "t", "left": "pid", "right": "pid"}], "joined at most once"),
        ([{"table": "v", "left": "a", "right": "b", "columns": {"c": ["peek"]}}], "unknown roles"),
    ],
)
def test_bad_joins(joins: object, reason: str) -> None:
    with pytest.raises(GuardError) as err:
        parse_rule({**RULE, "joins": joins})
    assert reason in str(err.value)


def test_joins_and_differential_privacy_do_not_mix() -> None:
    dp = {"epsilonPerQuery": 0.5, "budget": 2, "bounds": {"amount": [0, 100]}}
    with pytest.raises(GuardError, match="joins are not allowed under differential privacy"):
        parse_rule({**JOINED, "dp": dp})


def test_a_join_cannot_single_out_a_person_by_row_count() -> None:
    """Differencing through a join: one person with many visits makes a group of many rows but
    one entity.  Groups are sized by distinct people, so the group is suppressed, and the
    difference of "ward A" and "ward A without kind z" reveals nothing."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS pid, CASE WHEN range < 5 THEN 'A' ELSE 'B' END AS ward,"
                " 40 AS age, 1 AS amount, 'c' AS city, '2026' AS day FROM range(10)")  # fmt: skip
    con.execute("CREATE TABLE visits AS SELECT 0 AS patient, 'z' AS kind, 1000 AS cost FROM range(50)"
                " UNION ALL SELECT range AS patient, 'y' AS kind, 10 AS cost FROM range(10)")  # fmt: skip
    rule = parse_rule(JOINED)
    by_kind = check(rule, "SELECT t.ward, kind, COUNT(*) AS n, SUM(v.cost) AS s FROM t"
                          " JOIN visits v ON t.pid = v.patient GROUP BY t.ward, kind")  # fmt: skip
    rows = con.execute(by_kind.sql).fetchall()
    assert all(r[1] != "z" for r in rows), rows  # 50 rows, one person: suppressed
    assert {(r[0], r[1]) for r in rows} == {("A", "y"), ("B", "y")}
    unguarded = con.execute("SELECT t.ward, kind, COUNT(*) FROM t JOIN visits v ON t.pid = v.patient"
                            " GROUP BY t.ward, kind").fetchall()  # fmt: skip
    assert ("A", "z", 50) in unguarded  # what the guard kept back
