"""Attack corpus for the compute guard: queries that must be refused, and the ones it must accept.

Every query below was written against the rule of ``tests.compute_data`` (table ``visits``,
entity ``patient_id``, ``ward`` a group column, ``age`` filter and aggregate, ``amount``
aggregate only).  The spec they are written to:
- one SELECT, FROM the product table (optionally aliased) and the declared inner joins, WHERE,
  GROUP BY plain group columns, ORDER BY / LIMIT / OFFSET; nothing else;
- aggregates: COUNT(*), COUNT(DISTINCT entity), SUM and AVG of expressions linear in aggregate
  columns (columns, numeric literals, + - unary minus, times a literal, divided by a non-zero
  literal); under DP COUNT(*), COUNT(DISTINCT entity) and SUM of bounded columns only;
- WHERE compares filter or group columns with literals, combined with AND / OR / NOT;
- ROUND(aggregate, integer) in SELECT.

Each class of attack is one list, so a refusal that regresses names its class in the test id.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compute_data import DP_RULE, RULE, dp_rule
from trustspace.core.compute import GuardError, check, parse_rule

# -- Predicates, indicators and non-linear arithmetic inside aggregates ------------------------
# Anything that can turn a value into 0/1 lets a large group's count or sum answer a yes/no
# question about one entity.
PREDICATES_IN_AGGREGATES = [
    "SELECT COUNT(patient_id = 7 AND amount <= 70 OR NULL) AS n FROM visits",
    "SELECT COUNT(amount <= 70 OR NULL) FROM visits",
    "SELECT COUNT(age > 50 OR NULL) FROM visits",
    "SELECT COUNT(NULL OR age > 50) FROM visits",
    "SELECT COUNT(NOT age > 50 OR NULL) FROM visits",
    "SELECT SUM(age > 50) FROM visits",
    "SELECT SUM(age BETWEEN 20 AND 30) FROM visits",
    "SELECT SUM(age IN (27, 28)) FROM visits",
    "SELECT SUM(age IS NULL) FROM visits",
    "SELECT SUM(amount * (age = 27)) FROM visits",
    "SELECT AVG(amount < 100) FROM visits",
    "SELECT SUM(age - 27 > 0) FROM visits",
    "SELECT SUM(amount = amount) FROM visits",
    "SELECT COUNT(ward LIKE 'ic%' OR NULL) FROM visits",
    "SELECT SUM(ward ILIKE 'ICU') FROM visits",
    "SELECT SUM(CASE WHEN ward = 'icu' THEN amount ELSE 0 END) FROM visits",
    "SELECT COUNT(CASE WHEN amount > 100 THEN 1 END) FROM visits",
    "SELECT SUM(CASE ward WHEN 'icu' THEN amount END) FROM visits",
    "SELECT SUM(IF(age > 50, 1, 0)) FROM visits",
    "SELECT SUM(IIF(age > 50, 1, 0)) FROM visits",
    "SELECT SUM((age > 50)::INTEGER) FROM visits",
    "SELECT SUM(CAST(age > 50 AS INTEGER)) FROM visits",
    "SELECT SUM(TRY_CAST(age > 50 AS INTEGER)) FROM visits",
    "SELECT AVG((amount < 100)::DOUBLE) FROM visits",
    "SELECT SUM(amount * (ward = 'icu')::INT) FROM visits",
    "SELECT COUNT(NULLIF(age, 27)) FROM visits",
    "SELECT SUM(COALESCE(amount, 0)) FROM visits",
    "SELECT SUM(IFNULL(amount, 0)) FROM visits",
    "SELECT COUNT(age) FROM visits",
    "SELECT COUNT(amount) FROM visits",
    "SELECT COUNT(ward) FROM visits",
    "SELECT COUNT(DISTINCT age) FROM visits",
    "SELECT COUNT(DISTINCT ward) FROM visits",
    "SELECT COUNT(DISTINCT amount) FROM visits",
    "SELECT SUM(DISTINCT amount) FROM visits",
    "SELECT AVG(DISTINCT age) FROM visits",
    "SELECT SUM(patient_id) FROM visits",
    "SELECT AVG(patient_id) FROM visits",
    "SELECT COUNT(DISTINCT patient_id) FROM visits WHERE patient_id > 0",
    "SELECT COUNT(DISTINCT patient_id + 0) FROM visits",
    "SELECT COUNT(patient_id) FROM visits",
    "SELECT SUM(amount * age) FROM visits",
    "SELECT SUM(amount / age) FROM visits",
    "SELECT SUM(1 / (age - 27)) FROM visits",
    "SELECT SUM(amount / 0) FROM visits",
    "SELECT SUM(amount % 7) FROM visits",
    "SELECT SUM(age // 50) FROM visits",
    "SELECT SUM(amount ^ 2) FROM visits",
    "SELECT SUM(amount ** 2) FROM visits",
    "SELECT SUM(amount & 64) FROM visits",
    "SELECT SUM(age | 1) FROM visits",
    "SELECT SUM(age << 1) FROM visits",
    "SELECT SUM(age >> 5) FROM visits",
    "SELECT SUM(~age) FROM visits",
    "SELECT SUM(xor(age, 1)) FROM visits",
    "SELECT SUM(ABS(age - 27)) FROM visits",
    "SELECT SUM(SIGN(age - 27)) FROM visits",
    "SELECT SUM(GREATEST(age, 27)) FROM visits",
    "SELECT SUM(LEAST(amount, 100)) FROM visits",
    "SELECT SUM(FLOOR(age / 50)) FROM visits",
    "SELECT SUM(ROUND(age, -1)) FROM visits",
    "SELECT SUM(LENGTH(ward)) FROM visits",
    "SELECT SUM(amount || '') FROM visits",
    "SELECT SUM(amount) FILTER (WHERE ward = 'icu') FROM visits",
    "SELECT COUNT(*) FILTER (WHERE age = 27) FROM visits",
    "SELECT SUM(amount ORDER BY age) FROM visits",
    "SELECT SUM(amount) - SUM(amount) FILTER (WHERE ward <> 'icu') FROM visits",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY SUM(age = 27)",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY COUNT(age > 50 OR NULL) DESC",
    "SELECT ROUND(SUM(amount), age) FROM visits",
    "SELECT ROUND(SUM(amount), COUNT(age > 50 OR NULL)) FROM visits",
    "SELECT ROUND(SUM(amount), 2.5) FROM visits",
]

# -- Aggregates other than COUNT(*), COUNT(DISTINCT entity), SUM and AVG ------------------------
# Each releases one entity's value, a set of values, or a non-linear statistic of them.
OTHER_AGGREGATES = [
    "SELECT MAX(amount) FROM visits",
    "SELECT MIN(age) FROM visits",
    "SELECT ward, MAX(amount) FROM visits GROUP BY ward",
    "SELECT ARG_MAX(patient_id, amount) FROM visits",
    "SELECT ARG_MIN(age, amount) FROM visits",
    "SELECT MAX_BY(age, amount) FROM visits",
    "SELECT MIN_BY(amount, age) FROM visits",
    "SELECT LIST(amount) FROM visits",
    "SELECT ARRAY_AGG(age) FROM visits",
    "SELECT STRING_AGG(ward, ',') FROM visits",
    "SELECT GROUP_CONCAT(ward) FROM visits",
    "SELECT LISTAGG(ward) FROM visits",
    "SELECT FIRST(amount) FROM visits",
    "SELECT LAST(amount) FROM visits",
    "SELECT ANY_VALUE(amount) FROM visits",
    "SELECT ARBITRARY(age) FROM visits",
    "SELECT MEDIAN(amount) FROM visits",
    "SELECT QUANTILE(amount, 0.999) FROM visits",
    "SELECT QUANTILE_CONT(amount, 0.5) FROM visits",
    "SELECT QUANTILE_DISC(age, 0.0) FROM visits",
    "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY amount) FROM visits",
    "SELECT PERCENTILE_DISC(1.0) WITHIN GROUP (ORDER BY age) FROM visits",
    "SELECT MODE(amount) FROM visits",
    "SELECT MODE() WITHIN GROUP (ORDER BY age) FROM visits",
    "SELECT HISTOGRAM(age) FROM visits",
    "SELECT BIT_OR(age) FROM visits",
    "SELECT BIT_AND(age) FROM visits",
    "SELECT BIT_XOR(age) FROM visits",
    "SELECT BOOL_OR(age > 50) FROM visits",
    "SELECT BOOL_AND(age < 50) FROM visits",
    "SELECT EVERY(age < 50) FROM visits",
    "SELECT PRODUCT(age) FROM visits",
    "SELECT STDDEV(amount) FROM visits",
    "SELECT STDDEV_POP(amount) FROM visits",
    "SELECT VARIANCE(age) FROM visits",
    "SELECT VAR_SAMP(age) FROM visits",
    "SELECT KURTOSIS(amount) FROM visits",
    "SELECT SKEWNESS(amount) FROM visits",
    "SELECT ENTROPY(age) FROM visits",
    "SELECT APPROX_COUNT_DISTINCT(age) FROM visits",
    "SELECT APPROX_QUANTILE(amount, 0.99) FROM visits",
    "SELECT COUNT_IF(age > 50) FROM visits",
    "SELECT FSUM(amount) FROM visits",
    "SELECT KAHAN_SUM(amount) FROM visits",
    "SELECT SUMKAHAN(amount) FROM visits",
    "SELECT FAVG(amount) FROM visits",
    "SELECT GEOMEAN(amount) FROM visits",
    "SELECT CORR(age, amount) FROM visits",
    "SELECT COVAR_POP(age, amount) FROM visits",
    "SELECT REGR_SLOPE(amount, age) FROM visits",
    "SELECT COLLECT_LIST(amount) FROM visits",
    "SELECT COLLECT_SET(age) FROM visits",
    "SELECT BITSTRING_AGG(age) FROM visits",
    "SELECT REDUCE(LIST(age), (a, b) -> a + b) FROM visits",
]

# -- Subqueries, anywhere -------------------------------------------------------------------
SUBQUERIES = [
    "SELECT COUNT(*) FROM (SELECT * FROM visits)",
    "SELECT COUNT(*) FROM (SELECT * FROM visits WHERE ward = 'icu') AS v",
    "SELECT COUNT(*) FROM visits WHERE EXISTS (SELECT 1 FROM visits WHERE ward = 'icu' AND age = 27)",
    "SELECT COUNT(*) FROM visits WHERE NOT EXISTS (SELECT 1 FROM visits WHERE ward = 'icu' AND age > 50)",
    "SELECT COUNT(*) FROM visits WHERE EXISTS (SELECT 1 FROM information_schema.tables)",
    "SELECT COUNT(*) FROM visits WHERE EXISTS (FROM visits WHERE ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE age IN (SELECT age FROM visits WHERE ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE age NOT IN (SELECT age FROM visits WHERE ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE age = (SELECT MAX(age) FROM visits)",
    "SELECT COUNT(*) FROM visits WHERE age > ANY (SELECT age FROM visits WHERE ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE age > ALL (SELECT age FROM visits WHERE ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE (SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND age > 50) > 0",
    "SELECT COUNT(*), (SELECT SUM(amount) FROM visits WHERE ward = 'icu') FROM visits",
    "SELECT SUM((SELECT amount FROM visits WHERE ward = 'icu')) FROM visits",
    "SELECT SUM(amount) * (SELECT COUNT(*) FROM visits WHERE age = 27) FROM visits",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY (SELECT MAX(age) FROM visits)",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward LIMIT (SELECT COUNT(*) FROM visits WHERE ward = 'icu')",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward OFFSET (SELECT MIN(age) FROM visits)",
    "SELECT COUNT(*) FROM visits v WHERE v.age < (SELECT AVG(w.age) FROM visits w WHERE w.ward = v.ward)",
    "SELECT COUNT(*) FROM visits WHERE age IN (FROM visits SELECT age WHERE ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE ARRAY(SELECT age FROM visits WHERE ward = 'icu') = [27]",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND age = (SELECT 27)",
]

# -- CTEs, set operations, several statements, statements that are not a SELECT ---------------
STATEMENTS = [
    "WITH x AS (SELECT * FROM visits) SELECT COUNT(*) FROM x",
    "WITH visits AS (SELECT * FROM visits WHERE ward = 'icu') SELECT COUNT(*) FROM visits",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT COUNT(*) FROM visits",
    "SELECT COUNT(*) FROM visits UNION SELECT COUNT(*) FROM visits WHERE ward = 'icu'",
    "SELECT COUNT(*) FROM visits UNION ALL SELECT SUM(amount) FROM visits",
    "SELECT COUNT(*) FROM visits INTERSECT SELECT COUNT(*) FROM visits",
    "SELECT COUNT(*) FROM visits EXCEPT SELECT COUNT(*) FROM visits WHERE ward <> 'icu'",
    "SELECT COUNT(*) FROM visits UNION BY NAME SELECT COUNT(*) FROM visits",
    "SELECT COUNT(*) FROM visits; SELECT COUNT(*) FROM visits WHERE ward = 'icu'",
    "SELECT COUNT(*) FROM visits; DROP VIEW visits",
    "SELECT COUNT(*) FROM visits /* harmless */; PRAGMA database_list",
    "SELECT COUNT(*) FROM visits;\n-- a comment\nSELECT 1",
    "PRAGMA table_info('visits')",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "SET memory_limit = '100GB'",
    "RESET allowed_paths",
    "ATTACH '/tmp/x.db' AS x",
    "DETACH memory",
    "COPY visits TO '/tmp/out.csv'",
    "COPY (SELECT COUNT(*) FROM visits) TO '/tmp/out.csv'",
    "EXPORT DATABASE '/tmp/out'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "CREATE TABLE t AS SELECT COUNT(*) FROM visits",
    "CREATE MACRO m(x) AS x",
    "INSERT INTO visits VALUES (1, 'x', 1, 1)",
    "UPDATE visits SET amount = 0",
    "DELETE FROM visits",
    "EXPLAIN SELECT COUNT(*) FROM visits",
    "EXPLAIN ANALYZE SELECT COUNT(*) FROM visits WHERE ward = 'icu'",
    "DESCRIBE visits",
    "SUMMARIZE visits",
    "SHOW TABLES",
    "CALL duckdb_tables()",
    "CALL pragma_version()",
    "VALUES (1), (2)",
    "FROM visits",
    "PIVOT visits ON ward USING SUM(amount)",
    "UNPIVOT visits ON age, amount INTO NAME k VALUE v",
    "SELECT COUNT(*) FROM (PIVOT visits ON ward USING SUM(amount))",
    "BEGIN TRANSACTION",
    "CHECKPOINT",
    "USE memory",
    "",
    "   ",
    ";",
    "-- only a comment",
]

# -- Table functions, other tables, system catalogs, qualified names, time travel -------------
OTHER_SOURCES = [
    "SELECT COUNT(*) FROM read_csv('/etc/passwd')",
    "SELECT COUNT(*) FROM read_csv_auto('/etc/hostname')",
    "SELECT COUNT(*) FROM read_parquet('visits.parquet')",
    "SELECT COUNT(*) FROM read_parquet('*.parquet')",
    "SELECT COUNT(*) FROM read_json_auto('/etc/os-release')",
    "SELECT COUNT(*) FROM read_text('/etc/passwd')",
    "SELECT COUNT(*) FROM read_blob('/etc/passwd')",
    "SELECT COUNT(*) FROM glob('/*')",
    "SELECT COUNT(*) FROM range(10)",
    "SELECT COUNT(*) FROM generate_series(1, 10)",
    "SELECT COUNT(*) FROM parquet_metadata('visits.parquet')",
    "SELECT COUNT(*) FROM parquet_schema('visits.parquet')",
    "SELECT COUNT(*) FROM '/etc/passwd'",
    "SELECT COUNT(*) FROM 'visits.parquet'",
    "SELECT COUNT(*) FROM duckdb_tables()",
    "SELECT COUNT(*) FROM duckdb_columns()",
    "SELECT COUNT(*) FROM duckdb_settings()",
    "SELECT COUNT(*) FROM duckdb_views()",
    "SELECT COUNT(*) FROM duckdb_databases()",
    "SELECT COUNT(*) FROM pragma_table_info('visits')",
    "SELECT COUNT(*) FROM information_schema.tables",
    "SELECT COUNT(*) FROM information_schema.columns",
    "SELECT COUNT(*) FROM pg_catalog.pg_tables",
    "SELECT COUNT(*) FROM pg_class",
    "SELECT COUNT(*) FROM sqlite_master",
    "SELECT COUNT(*) FROM memory.main.visits",
    "SELECT COUNT(*) FROM main.visits",
    'SELECT COUNT(*) FROM "main"."visits"',
    "SELECT COUNT(*) FROM system.main.duckdb_tables",
    "SELECT COUNT(*) FROM temp.main.visits",
    "SELECT COUNT(*) FROM visits2",
    "SELECT COUNT(*) FROM query_table('visits')",
    "SELECT COUNT(*) FROM query('SELECT * FROM visits')",
    "SELECT COUNT(*) FROM visits AT (VERSION => 1)",
    "SELECT COUNT(*) FROM visits FOR SYSTEM_TIME AS OF '2020-01-01'",
    "SELECT COUNT(*) FROM visits VERSION AS OF 1",
    "SELECT COUNT(*) FROM visits TIMESTAMP AS OF '2020-01-01'",
    "SELECT COUNT(*), version() FROM visits",
    "SELECT COUNT(*), current_setting('allowed_paths') FROM visits",
    "SELECT COUNT(*), getenv('HOME') FROM visits",
    "SELECT COUNT(*), current_database() FROM visits",
    "SELECT COUNT(*) FROM visits WHERE ward = current_schema()",
    "SELECT COUNT(*) FROM visits WHERE main.visits.ward = 'ward-1'",
    "SELECT COUNT(*) FROM visits WHERE memory.main.visits.ward = 'ward-1'",
    "SELECT SUM(main.visits.amount) FROM visits",
]

# -- Joins and other ways to read more than one copy of the table -----------------------------
JOINS = [
    "SELECT COUNT(*) FROM visits, visits",
    "SELECT COUNT(*) FROM visits a, visits b",
    "SELECT COUNT(*) FROM visits a, visits b WHERE a.ward = b.ward",
    "SELECT COUNT(*) FROM visits CROSS JOIN visits v2",
    "SELECT COUNT(*) FROM visits NATURAL JOIN visits",
    "SELECT COUNT(*) FROM visits a JOIN visits b USING (patient_id)",
    "SELECT COUNT(*) FROM visits a JOIN visits b ON a.patient_id = b.patient_id",
    "SELECT COUNT(*) FROM visits a LEFT JOIN visits b ON a.patient_id = b.patient_id",
    "SELECT COUNT(*) FROM visits POSITIONAL JOIN visits",
    "SELECT COUNT(*) FROM visits a ASOF JOIN visits b ON a.age >= b.age",
    "SELECT COUNT(*) FROM visits a SEMI JOIN visits b ON a.age = b.age",
    "SELECT COUNT(*) FROM visits a ANTI JOIN visits b ON a.age = b.age",
    "SELECT COUNT(*) FROM visits, LATERAL (SELECT age + 1 AS x) l",
    "SELECT COUNT(*) FROM visits JOIN LATERAL (SELECT 1) l ON TRUE",
    "SELECT COUNT(*) FROM visits, UNNEST([1, 2, 3]) AS u(x)",
    "SELECT COUNT(*) FROM visits, range(3)",
    "SELECT COUNT(*) FROM visits JOIN (VALUES (27)) v(a) ON visits.age = v.a",
    "SELECT COUNT(*) FROM visits, (SELECT 1) s",
    "SELECT COUNT(*) FROM visits, information_schema.tables",
    "SELECT COUNT(*) FROM visits JOIN duckdb_tables() d ON TRUE",
    "SELECT COUNT(*) FROM visits AS v(ward, patient_id)",
    "SELECT COUNT(*) FROM visits AS v(age, ward, patient_id) WHERE age <> 7",
    "SELECT ward, COUNT(*) FROM visits AS v(ward) GROUP BY ward",
    "SELECT COUNT(*) FROM visits TABLESAMPLE 10%",
    "SELECT COUNT(*) FROM visits USING SAMPLE 5 ROWS",
    "SELECT COUNT(*) FROM visits TABLESAMPLE RESERVOIR(10 ROWS) REPEATABLE (42)",
    "SELECT COUNT(*) FROM visits TABLESAMPLE (1 PERCENT)",
]

# -- Clauses and SELECT-list features outside the allowed shape --------------------------------
CLAUSES = [
    "SELECT * FROM visits",
    "SELECT *, COUNT(*) FROM visits",
    "SELECT visits.* FROM visits",
    "SELECT v.* FROM visits v",
    "SELECT * EXCLUDE (patient_id) FROM visits",
    "SELECT * REPLACE (amount + 1 AS amount) FROM visits",
    "SELECT COLUMNS(*) FROM visits",
    "SELECT COLUMNS('am.*') FROM visits",
    "SELECT SUM(COLUMNS('am.*')) FROM visits",
    "SELECT COUNT(COLUMNS(*)) FROM visits",
    "SELECT SUM(COLUMNS(* EXCLUDE (patient_id, ward))) FROM visits",
    "SELECT #1, COUNT(*) FROM visits GROUP BY ALL",
    "SELECT DISTINCT ward FROM visits",
    "SELECT DISTINCT ward, COUNT(*) FROM visits GROUP BY ward",
    "SELECT DISTINCT ON (ward) ward, COUNT(*) FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward HAVING COUNT(*) < 10",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward HAVING SUM(amount) > 0",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward QUALIFY COUNT(*) > 1",
    "SELECT ward, COUNT(*) OVER () FROM visits",
    "SELECT ward, SUM(amount) OVER (PARTITION BY ward) FROM visits",
    "SELECT ward, SUM(SUM(amount)) OVER () FROM visits GROUP BY ward",
    "SELECT ward, ROW_NUMBER() OVER (ORDER BY ward) FROM visits GROUP BY ward",
    "SELECT ward, RANK() OVER w FROM visits GROUP BY ward WINDOW w AS (ORDER BY ward)",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward WINDOW w AS (ORDER BY ward)",
    "SELECT ward, LAG(ward) OVER (ORDER BY ward), COUNT(*) FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ALL",
    "SELECT COUNT(*) FROM visits GROUP BY ALL",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY ALL",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ROLLUP (ward)",
    "SELECT ward, COUNT(*) FROM visits GROUP BY CUBE (ward)",
    "SELECT ward, COUNT(*) FROM visits GROUP BY GROUPING SETS ((ward), ())",
    "SELECT ward, GROUPING(ward), COUNT(*) FROM visits GROUP BY ROLLUP (ward)",
    "SELECT ward, age, COUNT(*) FROM visits GROUP BY ward, age",
    "SELECT age, COUNT(*) FROM visits GROUP BY age",
    "SELECT COUNT(*) FROM visits GROUP BY age",
    "SELECT COUNT(*) FROM visits GROUP BY amount",
    "SELECT COUNT(*) FROM visits GROUP BY patient_id",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward, patient_id",
    "SELECT ward AS age, COUNT(*) FROM visits GROUP BY age",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward || ''",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward, age > 50",
    "SELECT COUNT(*) FROM visits GROUP BY age > 50",
    "SELECT COUNT(*) FROM visits GROUP BY LOWER(ward)",
    "SELECT COUNT(*) FROM visits GROUP BY CASE WHEN age > 50 THEN 1 END",
    "SELECT COUNT(*) FROM visits GROUP BY amount // 100",
    "SELECT ward = 'icu', COUNT(*) FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY amount",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY patient_id",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY age",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY RANDOM()",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY MAX(amount)",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY AVG(age) LIMIT 1",
    "SELECT amount FROM visits",
    "SELECT age FROM visits",
    "SELECT patient_id FROM visits",
    "SELECT patient_id, COUNT(*) FROM visits GROUP BY patient_id",
    "SELECT ward FROM visits",
    "SELECT COUNT(*), amount FROM visits",
    "SELECT COUNT(*), age FROM visits GROUP BY age",
    "SELECT COUNT(*) AS n, * FROM visits",
    "SELECT COUNT(*) FROM visits ORDER BY age",
]

# -- Functions and expressions in WHERE, SELECT and GROUP BY -----------------------------------
FUNCTIONS = [
    "SELECT COUNT(*) FROM visits WHERE LOWER(ward) = 'icu'",
    "SELECT COUNT(*) FROM visits WHERE UPPER(ward) = 'ICU'",
    "SELECT COUNT(*) FROM visits WHERE age + 0 = 27",
    "SELECT COUNT(*) FROM visits WHERE -age = -27",
    "SELECT COUNT(*) FROM visits WHERE age * 2 > 100",
    "SELECT COUNT(*) FROM visits WHERE age % 2 = 0",
    "SELECT COUNT(*) FROM visits WHERE age & 1 = 1",
    "SELECT COUNT(*) FROM visits WHERE age = age",
    "SELECT COUNT(*) FROM visits WHERE ward = ward",
    "SELECT COUNT(*) FROM visits WHERE age > amount",
    "SELECT COUNT(*) FROM visits WHERE age BETWEEN age AND 30",
    "SELECT COUNT(*) FROM visits WHERE age IN (27, age)",
    "SELECT COUNT(*) FROM visits WHERE 27 IN (age)",
    "SELECT COUNT(*) FROM visits WHERE (age > 50) = TRUE",
    "SELECT COUNT(*) FROM visits WHERE (age > 50) = (ward = 'icu')",
    "SELECT COUNT(*) FROM visits WHERE CAST(age AS VARCHAR) LIKE '2%'",
    "SELECT COUNT(*) FROM visits WHERE age::VARCHAR = '27'",
    "SELECT COUNT(*) FROM visits WHERE TRY_CAST(ward AS INTEGER) IS NULL",
    "SELECT COUNT(*) FROM visits WHERE regexp_matches(ward, 'ic')",
    "SELECT COUNT(*) FROM visits WHERE ward SIMILAR TO 'ic.*'",
    "SELECT COUNT(*) FROM visits WHERE ward GLOB 'ic*'",
    "SELECT COUNT(*) FROM visits WHERE ward ~ 'icu'",
    "SELECT COUNT(*) FROM visits WHERE ward ^@ 'ic'",
    "SELECT COUNT(*) FROM visits WHERE starts_with(ward, 'ic')",
    "SELECT COUNT(*) FROM visits WHERE contains(ward, 'cu')",
    "SELECT COUNT(*) FROM visits WHERE ward || 'x' = 'icux'",
    "SELECT COUNT(*) FROM visits WHERE ward COLLATE NOCASE = 'ICU'",
    "SELECT COUNT(*) FROM visits WHERE hash(patient_id) % 2 = 0",
    "SELECT COUNT(*) FROM visits WHERE random() < 0.5",
    "SELECT COUNT(*) FROM visits WHERE CASE WHEN ward = 'icu' THEN age > 50 ELSE TRUE END",
    "SELECT COUNT(*) FROM visits WHERE IF(ward = 'icu', age > 50, TRUE)",
    "SELECT COUNT(*) FROM visits WHERE COALESCE(age, 0) > 50",
    "SELECT COUNT(*) FROM visits WHERE NULLIF(age, 27) IS NULL",
    "SELECT COUNT(*) FROM visits WHERE [age][1] = 27",
    "SELECT COUNT(*) FROM visits WHERE list_contains([27, 28], age)",
    "SELECT COUNT(*) FROM visits WHERE len(list_filter([age], x -> x > 50)) > 0",
    "SELECT COUNT(*) FROM visits WHERE {'a': age}.a = 27",
    "SELECT COUNT(*) FROM visits WHERE struct_pack(a := age).a = 27",
    "SELECT COUNT(*) FROM visits WHERE age = 27 AND patient_id = 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id = 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id IN (7, 8)",
    "SELECT COUNT(*) FROM visits WHERE patient_id <> 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id IS NOT NULL",
    "SELECT COUNT(*) FROM visits WHERE amount > 100",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND amount <= 70",
    "SELECT COUNT(*) FROM visits WHERE amount IS NULL",
    "SELECT COUNT(*) FROM visits WHERE age > 30 AND ward = 'icu' AND age::INT < 50",
    "SELECT COUNT(*) FROM visits WHERE ward = $1",
    "SELECT COUNT(*) FROM visits WHERE ward = ?",
    "SELECT COUNT(*) FROM visits WHERE ward = getvariable('x')",
    "SELECT COUNT(*) FROM visits WHERE age = 27::BIGINT",
    "SELECT COUNT(*) FROM visits WHERE age > '2' || '5'",
    "SELECT COUNT(*) FROM visits WHERE ward = lower('ICU')",
    "SELECT COUNT(*) FROM visits WHERE age = abs(-27)",
    "SELECT ward, LOWER(ward), COUNT(*) FROM visits GROUP BY ward",
    "SELECT ward || 'x', COUNT(*) FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) + 0 FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) * SUM(amount) FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*), 1 / COUNT(*) FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*), CASE WHEN COUNT(*) < 10 THEN 'few' END FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) > 10 FROM visits GROUP BY ward",
    "SELECT COUNT(*), random() FROM visits",
    "SELECT COUNT(*), uuid() FROM visits",
    "SELECT COUNT(*), now() FROM visits",
    "SELECT SUM(amount), typeof(SUM(amount)) FROM visits",
    "SELECT COUNT(*)::VARCHAR FROM visits",
    "SELECT CAST(SUM(amount) AS INTEGER) FROM visits",
    "SELECT ward, [COUNT(*)] FROM visits GROUP BY ward",
    "SELECT ward, {'n': COUNT(*)} FROM visits GROUP BY ward",
    "SELECT SUM([amount][1]) FROM visits",
    "SELECT SUM({'a': amount}.a) FROM visits",
    "SELECT SUM(list_sum([amount, amount])) FROM visits",
    "SELECT SUM(list_transform([amount], x -> x * 2)[1]) FROM visits",
    "SELECT COUNT([x FOR x IN [age] IF x > 50]) FROM visits",
    "SELECT SUM(len([x FOR x IN [age] IF x > 50])) FROM visits",
    "SELECT SUM(amount::INTEGER) FROM visits",
    "SELECT SUM(TRY_CAST(amount AS INTEGER)) FROM visits",
    "SELECT SUM(amount->>'x') FROM visits",
    "SELECT SUM(age) FROM visits WHERE age > (27)::INT",
]

# -- Syntax tricks: quoting, case, comments, unicode, dialect features ---------------------------
SYNTAX = [
    'SELECT COUNT(*) FROM visits WHERE "patient_id" = 7',
    'SELECT COUNT(*) FROM visits WHERE "PATIENT_ID" = 7',
    "SELECT COUNT(*) FROM visits WHERE PATIENT_ID = 7",
    "SELECT COUNT(*) FROM visits WHERE Patient_Id = 7",
    'SELECT COUNT(*) FROM visits WHERE "Patient_Id" = 7',
    "SELECT COUNT(*) FROM visits WHERE `patient_id` = 7",
    "SELECT COUNT(*) FROM visits WHERE [patient_id] = 7",
    'SELECT COUNT(*) FROM "visits" WHERE "patient_id" <> 7',
    'SELECT "AMOUNT", COUNT(*) FROM visits GROUP BY "AMOUNT"',
    "SELECT Amount, COUNT(*) FROM visits GROUP BY Amount",
    'SELECT ward, COUNT(*) FROM visits GROUP BY "AGE", ward',
    "SELECT mAx(amount) FROM visits",
    'SELECT "max"(amount) FROM visits',
    'SELECT "MAX"(amount) FROM visits',
    "select count(patient_id = 7 and amount <= 70 or null) from visits",
    "SeLeCt CoUnT(pAtIeNt_Id = 7 Or NuLl) FrOm ViSiTs",
    "SELECT COUNT(*) FROM visits WHERE patient_id/**/= 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id --\n= 7",
    "SELECT COUNT(*) FROM visits -- */ WHERE patient_id = 7 /*\nWHERE patient_id = 7",
    "SELECT COUNT(*) FROM visits /* ; SELECT 1 */ WHERE patient_id = 7",
    "SELECT COUNT(*) FROM visits WHERE patient\u200b_id = 7",
    "SELECT COUNT(*) FROM visits WHERE \u0440atient_id = 7",
    "SELECT COUNT(*) FROM v\u0456sits",
    "SELECT COUNT(*) FROM \uff56\uff49\uff53\uff49\uff54\uff53",
    "SELECT COUNT(*) FROM visits WHERE patient_id\u00a0= 7",
    "SELECT COUNT(*) FROM visits WHERE \u202epatient_id = 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id = 7\x00",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND age = 27 OR patient_id = 7",
    "SELECT SUM(amount) FROM visits WHERE NOT patient_id <> 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id BETWEEN 7 AND 7",
    "SELECT COUNT(*) FROM visits WHERE patient_id LIKE '7'",
    "SELECT COUNT(*) FROM visits v WHERE v.patient_id = 7",
    "SELECT COUNT(*) FROM visits v WHERE visits.patient_id = 7",
    "SELECT COUNT(*) FROM visits v WHERE w.ward = 'icu'",
    "SELECT COUNT(*) FROM visits AS patient_id WHERE patient_id.patient_id = 7",
    "SELECT COUNT(*) FROM visits WHERE (patient_id, age) = (7, 27)",
    "SELECT COUNT(*) FROM visits WHERE ROW(patient_id) = ROW(7)",
    "SELECT COUNT(*) FROM visits WHERE patient_id = $$7$$",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND patient_id = 0x7",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND patient_id = 7e0",
    "SELECT ward AS patient_id, COUNT(*) FROM visits GROUP BY patient_id",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward ORDER BY __group_size",
    "SELECT COUNT(*), SUM(__group_size) FROM visits",
    "SELECT /*+ BROADCAST(visits) */ COUNT(*) FROM visits WHERE patient_id = 7",
    "SELECT COUNT(*) FROM visits LATERAL VIEW explode(array(age)) t AS x",
    "SELECT COUNT(*) FROM visits DISTRIBUTE BY ward",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward CLUSTER BY ward",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward SORT BY ward",
    "SELECT TRANSFORM(ward) USING 'cat' FROM visits",
    "SELECT COUNT(*) FROM visits WHERE ward RLIKE 'icu'",
    "SELECT COUNT(*) FROM visits WHERE ward REGEXP 'icu'",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu' AND age == 27 AND patient_id == 7",
    "SELECT COUNT(*) FROM visits WHERE age := 27",
    "SELECT COUNT(*) FROM visits, visits2 WHERE visits.patient_id = 7",
    "TABLE visits",
    "SELECT COUNT(*) FROM visits WHERE age IN ()",
    "SELECT COUNT(* FROM visits",
    "SELECT COUNT(*) FROM visits WHERE",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu",
]

# -- Joins with a rule that declares one ------------------------------------------------------
JOIN_RULE: dict[str, Any] = {
    "table": "patients",
    "entity": "patient_id",
    "columns": {"ward": ["group"]},
    "joins": [{"table": "stays", "left": "patient_id", "right": "patient",
               "columns": {"days": ["aggregate"], "kind": ["group", "filter"]}}],
    "minGroupSize": 10,
}  # fmt: skip
DECLARED_JOIN_ATTACKS = [
    "SELECT COUNT(*) FROM patients p LEFT JOIN stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p RIGHT JOIN stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p FULL JOIN stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p CROSS JOIN stays s",
    "SELECT COUNT(*) FROM patients p, stays s",
    "SELECT COUNT(*) FROM patients p, stays s WHERE p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p NATURAL JOIN stays s",
    "SELECT COUNT(*) FROM patients p JOIN stays s USING (patient_id)",
    "SELECT COUNT(*) FROM patients p POSITIONAL JOIN stays s",
    "SELECT COUNT(*) FROM patients p ASOF JOIN stays s ON p.patient_id >= s.patient",
    "SELECT COUNT(*) FROM patients p SEMI JOIN stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p ANTI JOIN stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient AND s.days > 5",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient OR s.days > 5",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id > s.patient",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.ward = s.kind",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient + 1",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON TRUE",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient"
    " JOIN stays t ON p.patient_id = t.patient",
    "SELECT COUNT(*) FROM patients p JOIN patients q ON p.patient_id = q.patient_id",
    "SELECT COUNT(*) FROM stays s JOIN patients p ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM stays",
    "SELECT SUM(s.patient) FROM patients p JOIN stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient WHERE s.patient = 7",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient WHERE p.patient_id = 7",
    "SELECT s.days, COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient GROUP BY s.days",
    "SELECT COUNT(*) FROM patients stays JOIN stays patients ON stays.patient_id = patients.patient"
    " WHERE patients.patient = 7",
    "SELECT COUNT(*) FROM patients p JOIN (SELECT * FROM stays) s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p JOIN read_csv('stays.csv') s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p JOIN main.stays s ON p.patient_id = s.patient",
    "SELECT COUNT(*) FROM patients p JOIN stays s ON p.patient_id = s.patient,"
    " LATERAL (SELECT s.days) l",
    "SELECT COUNT(s.days > 5 OR NULL) FROM patients p JOIN stays s ON p.patient_id = s.patient",
    "SELECT MAX(s.days) FROM patients p JOIN stays s ON p.patient_id = s.patient",
]

REFUSED = {
    "predicates": PREDICATES_IN_AGGREGATES,
    "aggregates": OTHER_AGGREGATES,
    "subqueries": SUBQUERIES,
    "statements": STATEMENTS,
    "sources": OTHER_SOURCES,
    "joins": JOINS,
    "clauses": CLAUSES,
    "functions": FUNCTIONS,
    "syntax": SYNTAX,
}


def _cases(classes: dict[str, list[str]]) -> list[Any]:
    return [
        pytest.param(q, id=f"{name}-{i:02d}")
        for name, queries in classes.items()
        for i, q in enumerate(queries)
    ]


def _refused(rule: Any, query: str) -> str:
    with pytest.raises(GuardError) as err:
        check(rule, query)
    reason = str(err.value)
    assert reason.strip(), "a refusal gives a reason"
    return reason


@pytest.mark.parametrize("query", _cases(REFUSED))
def test_attack_is_refused_in_threshold_mode(query: str) -> None:
    _refused(parse_rule(RULE), query)


@pytest.mark.parametrize("query", _cases(REFUSED))
def test_attack_is_refused_under_differential_privacy(query: str) -> None:
    _refused(parse_rule(DP_RULE), query)


@pytest.mark.parametrize("query", _cases({"declared-joins": DECLARED_JOIN_ATTACKS}))
def test_join_attack_is_refused(query: str) -> None:
    _refused(parse_rule(JOIN_RULE), query)


def test_the_corpus_is_large_and_has_no_duplicates() -> None:
    everything = [q for queries in REFUSED.values() for q in queries]
    assert len(everything) > 400
    assert len(set(everything)) == len(everything), [
        q for q in everything if everything.count(q) > 1
    ]


@pytest.mark.parametrize(
    "aggregates", [["count", "sum", "avg", "min", "max"], ["count", "min"], ["max"]]
)
@pytest.mark.parametrize(
    "query",
    [
        "SELECT MAX(amount) FROM visits",
        "SELECT ward, MIN(age) FROM visits GROUP BY ward",
        "SELECT ward, MAX(amount) AS top FROM visits WHERE ward IN ('icu', 'ward-0') GROUP BY ward",
    ],
)
def test_min_and_max_are_refused_even_when_a_rule_lists_them(
    aggregates: list[str], query: str
) -> None:
    """MIN and MAX release one entity's value; a rule may not switch them on (either the rule
    or the query is refused)."""
    with pytest.raises(GuardError):
        check(parse_rule({**RULE, "aggregates": aggregates}), query)


# -- Spellings that mean exactly an allowed query -----------------------------------------------
# The guard rebuilds what it accepts, so a different spelling of an allowed query is harmless
# when, and only when, it is rebuilt into the very same plan.  Either is fine: refused, or
# accepted as exactly the canonical query (never as something the text hides).
SPELLINGS = [
    ("FROM visits SELECT COUNT(*)", "SELECT COUNT(*) FROM visits"),
    ("FROM visits SELECT ward, COUNT(*) GROUP BY ward",
     "SELECT ward, COUNT(*) FROM visits GROUP BY ward"),
    ("SELECT COUNT(*) FROM visits /* /* nested */ WHERE patient_id = 7 */",
     "SELECT COUNT(*) FROM visits"),
    ("SELECT COUNT(*) FROM visits -- WHERE patient_id = 7", "SELECT COUNT(*) FROM visits"),
    ("SELECT COUNT(*) FROM visits /* ; DROP VIEW visits */", "SELECT COUNT(*) FROM visits"),
    ("SELECT COUNT(*) FROM visits WHERE ward = 'icu' -- ' OR patient_id = 7",
     "SELECT COUNT(*) FROM visits WHERE ward = 'icu'"),
    ('SELECT COUNT(*) FROM "visits" WHERE "ward" = \'icu\'',
     "SELECT COUNT(*) FROM visits WHERE ward = 'icu'"),
]  # fmt: skip


@pytest.mark.parametrize(("spelling", "canonical"), SPELLINGS)
def test_a_spelling_is_refused_or_means_exactly_the_allowed_query(
    spelling: str, canonical: str
) -> None:
    rule = parse_rule(RULE)
    try:
        plan = check(rule, spelling)
    except GuardError as exc:
        assert str(exc).strip()
        return
    assert plan.sql() == check(rule, canonical).sql()


# -- Queries the guard must accept ------------------------------------------------------------
ACCEPTED = [
    "SELECT COUNT(*) FROM visits",
    "SELECT COUNT(*) AS n FROM visits",
    "select count(*) from visits",
    "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward",
    "SELECT ward, COUNT(*) AS n, SUM(amount) AS s, AVG(amount) AS a FROM visits GROUP BY ward ORDER BY ward",
    "SELECT COUNT(DISTINCT patient_id) AS people FROM visits",
    "SELECT ward, COUNT(DISTINCT patient_id) FROM visits GROUP BY ward",
    "SELECT ward, ROUND(AVG(amount), 2) AS mean FROM visits GROUP BY ward",
    "SELECT ROUND(SUM(amount), 0) FROM visits",
    "SELECT SUM(amount) FROM visits",
    "SELECT SUM(age) FROM visits",
    "SELECT AVG(age) FROM visits",
    "SELECT SUM(amount + age) FROM visits",
    "SELECT SUM(amount - age) FROM visits",
    "SELECT SUM(2 * amount - age / 2) FROM visits",
    "SELECT SUM(amount * 0.5) FROM visits",
    "SELECT SUM(amount / 10) FROM visits",
    "SELECT SUM(-amount) FROM visits",
    "SELECT AVG(amount + 1) FROM visits",
    "SELECT SUM((amount + age) * 3) FROM visits",
    "SELECT COUNT(*) FROM visits WHERE age BETWEEN 30 AND 40",
    "SELECT COUNT(*) FROM visits WHERE age NOT BETWEEN 30 AND 40",
    "SELECT COUNT(*) FROM visits WHERE age IN (30, 31, 32)",
    "SELECT COUNT(*) FROM visits WHERE age NOT IN (30, 31)",
    "SELECT COUNT(*) FROM visits WHERE ward IN ('ward-0', 'ward-1')",
    "SELECT COUNT(*) FROM visits WHERE ward LIKE 'ward-%'",
    "SELECT COUNT(*) FROM visits WHERE ward NOT LIKE 'ward-1%'",
    "SELECT COUNT(*) FROM visits WHERE ward ILIKE 'WARD%'",
    "SELECT COUNT(*) FROM visits WHERE age IS NOT NULL",
    "SELECT COUNT(*) FROM visits WHERE age IS NULL",
    "SELECT COUNT(*) FROM visits WHERE ward <> 'icu' AND age >= 20",
    "SELECT COUNT(*) FROM visits WHERE ward != 'icu'",
    "SELECT COUNT(*) FROM visits WHERE NOT (age < 30) OR ward = 'ward-1'",
    "SELECT COUNT(*) FROM visits WHERE (age < 30 OR age > 60) AND NOT ward = 'ward-2'",
    "SELECT COUNT(*) FROM visits WHERE age > 20.5",
    "SELECT COUNT(*) FROM visits WHERE age > -1",
    "SELECT ward, SUM(amount) FROM visits WHERE age < 50 GROUP BY ward",
    "SELECT ward, COUNT(*) FROM visits WHERE ward = 'icu' GROUP BY ward",
    "SELECT COUNT(*) FROM visits WHERE ward = 'icu'",
    "SELECT v.ward, COUNT(*) FROM visits v GROUP BY v.ward",
    "SELECT v.ward, SUM(v.amount) FROM visits AS v WHERE v.age > 30 GROUP BY v.ward",
    "SELECT visits.ward, COUNT(*) FROM visits GROUP BY visits.ward",
    "SELECT ward AS w, COUNT(*) AS n FROM visits GROUP BY ward ORDER BY n DESC LIMIT 3",
    "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward ORDER BY ward LIMIT 2 OFFSET 1",
    "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward ORDER BY ward DESC",
    "SELECT COUNT(*), SUM(amount), AVG(age) FROM visits WHERE ward = 'ward-3'",
    "SELECT COUNT(*) FROM visits;",
    "SELECT COUNT(*) FROM visits -- how many",
    "SELECT COUNT(*) /* all */ FROM visits",
    "SELECT\n  ward,\n  COUNT(*)\nFROM visits\nGROUP BY ward",
]

DP_ACCEPTED = [
    "SELECT COUNT(*) FROM visits",
    "SELECT ward, COUNT(*) FROM visits GROUP BY ward",
    "SELECT SUM(amount) FROM visits",
    "SELECT SUM(age) FROM visits WHERE ward = 'ward-1'",
    "SELECT ward, COUNT(*) AS n, SUM(amount) AS s FROM visits GROUP BY ward ORDER BY ward",
    "SELECT COUNT(DISTINCT patient_id) FROM visits",
    "SELECT COUNT(*) FROM visits WHERE age BETWEEN 30 AND 40",
]

DP_REFUSED = [
    "SELECT AVG(amount) FROM visits",
    "SELECT ward, AVG(age) FROM visits GROUP BY ward",
    "SELECT ROUND(AVG(amount), 1) FROM visits",
    "SELECT MAX(amount) FROM visits",
    "SELECT MIN(age) FROM visits",
    "SELECT MEDIAN(amount) FROM visits",
    "SELECT COUNT(patient_id = 7 OR NULL) FROM visits",
    "SELECT SUM(amount) FILTER (WHERE ward = 'icu') FROM visits",
]


@pytest.mark.parametrize("query", ACCEPTED)
def test_legitimate_query_is_accepted(query: str) -> None:
    checked = check(parse_rule(RULE), query)
    assert checked.sql().strip()


@pytest.mark.parametrize("query", DP_ACCEPTED)
def test_legitimate_query_is_accepted_under_differential_privacy(query: str) -> None:
    checked = check(parse_rule(DP_RULE), query)
    assert checked.sql().strip() and checked.epsilon > 0


@pytest.mark.parametrize("query", DP_REFUSED)
def test_differential_privacy_refuses_more(query: str) -> None:
    _refused(parse_rule(DP_RULE), query)


def test_a_sum_without_bounds_is_refused_under_differential_privacy() -> None:
    rule = dp_rule(bounds={"amount": [0, 1000]})  # no bounds for age
    assert check(parse_rule(rule), "SELECT SUM(amount) FROM visits").sql()
    _refused(parse_rule(rule), "SELECT SUM(age) FROM visits")


def test_a_rule_may_cap_the_rows_of_one_entity() -> None:
    """maxRowsPerEntity is part of the DP rule: the rule parses, and a cap that is not a
    positive number of rows is refused rather than read as no cap."""
    assert parse_rule(DP_RULE).dp
    for bad in (0, -1, "many"):
        with pytest.raises(GuardError):
            parse_rule(dp_rule(maxRowsPerEntity=bad))


def test_declared_join_is_accepted() -> None:
    query = (
        "SELECT p.ward, s.kind, COUNT(*) AS n, SUM(s.days) AS d FROM patients p"
        " JOIN stays s ON p.patient_id = s.patient GROUP BY p.ward, s.kind"
    )
    assert check(parse_rule(JOIN_RULE), query).sql()


# -- Size bounds ----------------------------------------------------------------------------
# Each is refused (a GuardError with a reason), never a RecursionError, MemoryError or hang.
def _ors(n: int) -> str:
    return " OR ".join(f"age = {20 + i % 60}" for i in range(n))


BOUNDS = {
    "parens-where": "SELECT COUNT(*) FROM visits WHERE " + "(" * 60 + "age > 30" + ")" * 60,
    "parens-aggregate": "SELECT SUM(" + "(" * 60 + "amount" + ")" * 60 + ") FROM visits",
    "parens-deep": "SELECT COUNT(*) FROM visits WHERE " + "(" * 5000 + "age > 30" + ")" * 5000,
    "or-14000": f"SELECT COUNT(*) FROM visits WHERE {_ors(14000)}",
    "and-14000": "SELECT COUNT(*) FROM visits WHERE "
    + " AND ".join(f"age <> {i}" for i in range(14000)),
    "in-100000": "SELECT COUNT(*) FROM visits WHERE age IN ("
    + ", ".join(str(i) for i in range(100_000))
    + ")",
    "not-3000": "SELECT COUNT(*) FROM visits WHERE " + "NOT " * 3000 + "age > 30",
    "unary-minus-5000": "SELECT SUM(" + "-" * 5000 + "amount) FROM visits",
    "plus-20000": "SELECT SUM(" + " + ".join(["amount"] * 20000) + ") FROM visits",
    "columns-5000": "SELECT "
    + ", ".join(f"SUM(amount) AS s{i}" for i in range(5000))
    + " FROM visits",
    "string-1MB": "SELECT COUNT(*) FROM visits WHERE ward = '" + "x" * 1_000_000 + "'",
    "identifier-100k": "SELECT COUNT(*) AS " + "a" * 100_000 + " FROM visits",
    "column-name-100k": "SELECT COUNT(*) FROM visits WHERE " + "a" * 100_000 + " = 1",
    "comment-2MB": "SELECT COUNT(*) FROM visits /*" + " " * 2_000_000 + "*/",
    "number-100k-digits": "SELECT COUNT(*) FROM visits WHERE age < 1" + "0" * 100_000,
    "case-nesting": "SELECT SUM(" + "CASE WHEN age > 1 THEN " * 500 + "amount"
    + " END" * 500 + ") FROM visits",
    "subquery-nesting": "SELECT COUNT(*) FROM " + "(SELECT * FROM " * 300 + "visits"
    + ")" * 300,
}  # fmt: skip


@pytest.mark.timeout(20)  # a hang guard, not a timing assertion: a refusal takes milliseconds
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_oversized_query_is_refused_not_crashed(name: str) -> None:
    query = BOUNDS[name]
    try:
        check(parse_rule(RULE), query)
    except GuardError as exc:
        assert str(exc).strip()
        return
    except RecursionError:
        pytest.fail("the guard hit Python's recursion limit instead of refusing")
    pytest.fail(f"the guard accepted an oversized query ({len(query)} characters)")
