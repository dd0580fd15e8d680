"""Schema migrations, in order; each returns its statements for a dialect.

Migrations are append-only: never edit a released one, add the next.
JSON documents are stored as text; times are seconds since the epoch (float).
States are stored as the spec's names, as text.
"""

from __future__ import annotations

from collections.abc import Callable

Migration = Callable[[str], list[str]]


def _v1(dialect: str) -> list[str]:
    serial = (
        "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    )
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    return [
        f"""CREATE TABLE datasets (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            path TEXT,
            filename TEXT,
            media_type TEXT NOT NULL DEFAULT 'application/octet-stream',
            size {big},
            sha256 TEXT,
            formats TEXT NOT NULL,
            created_at {real} NOT NULL
        )""",
        f"""CREATE TABLE offers (
            id TEXT PRIMARY KEY,
            dataset_id TEXT NOT NULL REFERENCES datasets(id),
            policy TEXT NOT NULL,
            created_at {real} NOT NULL
        )""",
        "CREATE INDEX offers_dataset ON offers (dataset_id)",
        f"""CREATE TABLE negotiations (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            provider_pid TEXT,
            consumer_pid TEXT,
            state TEXT NOT NULL,
            counterparty_id TEXT NOT NULL,
            counterparty_address TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            offer TEXT NOT NULL,
            agreement_id TEXT,
            error TEXT,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL
        )""",
        "CREATE UNIQUE INDEX negotiations_peer_pid ON negotiations (role, counterparty_id, consumer_pid)",
        "CREATE INDEX negotiations_state ON negotiations (state, updated_at)",
        f"""CREATE TABLE agreements (
            id TEXT PRIMARY KEY,
            negotiation_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            consumer_id TEXT NOT NULL,
            policy TEXT NOT NULL,
            created_at {real} NOT NULL
        )""",
        f"""CREATE TABLE transfers (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            provider_pid TEXT,
            consumer_pid TEXT,
            state TEXT NOT NULL,
            counterparty_id TEXT NOT NULL,
            counterparty_address TEXT NOT NULL,
            agreement_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            format TEXT NOT NULL,
            data_address TEXT,
            token_hash TEXT,
            error TEXT,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL
        )""",
        "CREATE UNIQUE INDEX transfers_peer_pid ON transfers (role, counterparty_id, consumer_pid)",
        f"""CREATE TABLE outbox (
            id {serial},
            process_kind TEXT NOT NULL,
            process_id TEXT NOT NULL,
            peer_id TEXT NOT NULL,
            url TEXT NOT NULL,
            body TEXT NOT NULL,
            final INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before {real} NOT NULL,
            lease_until {real} NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at {real} NOT NULL
        )""",
        "CREATE INDEX outbox_due ON outbox (status, not_before)",
        "CREATE INDEX outbox_process ON outbox (process_id, status)",
        f"""CREATE TABLE received_messages (
            process_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            received_at {real} NOT NULL,
            PRIMARY KEY (process_id, message_id)
        )""",
        f"""CREATE TABLE seen_tokens (
            jti TEXT PRIMARY KEY,
            expires_at {real} NOT NULL
        )""",
    ]


def _v2(dialect: str) -> list[str]:
    serial = (
        "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    )
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    return [
        f"""CREATE TABLE process_events (
            id {serial},
            process_id TEXT NOT NULL,
            at {real} NOT NULL,
            direction TEXT NOT NULL,
            message TEXT NOT NULL,
            state TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX process_events_process ON process_events (process_id, id)",
    ]


def _v3(dialect: str) -> list[str]:
    # The outbox claim walks pending rows in id order and stops at its limit; the replay cache
    # is purged by expiry.  Both stay cheap however much history the tables hold.
    return [
        "CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending'",
        "CREATE INDEX outbox_pending_process ON outbox (process_id, id) WHERE status = 'pending'",
        "CREATE INDEX seen_tokens_expiry ON seen_tokens (expires_at)",
        "DROP INDEX outbox_due",  # it led planners to sort every pending row per claim
    ]


def _v4(dialect: str) -> list[str]:
    # Usage control: who may see a dataset, how it is classified, what purpose a transfer
    # declared, each use counted against an agreement, payments, and the decision log.
    serial = (
        "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    )
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    return [
        "ALTER TABLE datasets ADD COLUMN access_policy TEXT",
        "ALTER TABLE datasets ADD COLUMN classification TEXT NOT NULL DEFAULT 'general'",
        "ALTER TABLE transfers ADD COLUMN purpose TEXT",
        f"""CREATE TABLE usage (
            agreement_id TEXT NOT NULL,
            action TEXT NOT NULL,
            transfer_id TEXT NOT NULL,
            at {real} NOT NULL,
            PRIMARY KEY (agreement_id, action, transfer_id)
        )""",
        f"""CREATE TABLE payments (
            id {serial},
            agreement_id TEXT NOT NULL,
            amount TEXT NOT NULL,
            unit TEXT NOT NULL,
            reference TEXT,
            at {real} NOT NULL
        )""",
        "CREATE INDEX payments_agreement ON payments (agreement_id)",
        f"""CREATE TABLE decisions (
            id {serial},
            at {real} NOT NULL,
            point TEXT NOT NULL,
            principal TEXT NOT NULL,
            process_id TEXT,
            agreement_id TEXT,
            dataset_id TEXT,
            decision TEXT NOT NULL,
            reasons TEXT NOT NULL,
            report TEXT NOT NULL
        )""",
        "CREATE INDEX decisions_agreement ON decisions (agreement_id, id)",
        "CREATE INDEX decisions_process ON decisions (process_id, id)",
    ]


def _v5(dialect: str) -> list[str]:
    # The operator: applications, members, the credentials it issued, its signing keys, the
    # federated catalog index; on every node: refused authentication attempts.
    serial = (
        "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    )
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    statements = [
        "ALTER TABLE datasets ADD COLUMN keywords TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE datasets ADD COLUMN license TEXT",
        "ALTER TABLE datasets ADD COLUMN price TEXT",
        "ALTER TABLE datasets ADD COLUMN currency TEXT",
        f"""CREATE TABLE applications (
            id TEXT PRIMARY KEY,
            participant_id TEXT NOT NULL,
            legal_name TEXT NOT NULL,
            registration_number TEXT NOT NULL,
            region TEXT NOT NULL,
            sector TEXT NOT NULL,
            contact TEXT NOT NULL,
            dsp_url TEXT NOT NULL,
            public_key TEXT NOT NULL,
            roles TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            submitted_at {real} NOT NULL,
            decided_at {real}
        )""",
        f"""CREATE TABLE members (
            participant_id TEXT PRIMARY KEY,
            application_id TEXT NOT NULL,
            legal_name TEXT NOT NULL,
            registration_number TEXT NOT NULL,
            region TEXT NOT NULL,
            sector TEXT NOT NULL,
            roles TEXT NOT NULL,
            dsp_url TEXT NOT NULL,
            public_key TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            joined_at {real} NOT NULL,
            updated_at {real} NOT NULL
        )""",
        f"""CREATE TABLE credentials (
            id TEXT PRIMARY KEY,
            participant_id TEXT NOT NULL,
            public_key TEXT NOT NULL,
            token TEXT NOT NULL,
            issued_at {real} NOT NULL,
            expires_at {real} NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX credentials_member ON credentials (participant_id, issued_at)",
        f"""CREATE TABLE operator_keys (
            kid TEXT PRIMARY KEY,
            public_key TEXT NOT NULL,
            created_at {real} NOT NULL,
            retired_at {real}
        )""",
        f"""CREATE TABLE auth_failures (
            id {serial},
            at {real} NOT NULL,
            path TEXT NOT NULL,
            issuer TEXT,
            reason TEXT NOT NULL
        )""",
        f"""CREATE TABLE catalog_entries (
            id {serial},
            space TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            keywords TEXT NOT NULL,
            sector TEXT NOT NULL,
            region TEXT NOT NULL,
            formats TEXT NOT NULL,
            license TEXT,
            classification TEXT NOT NULL,
            price DOUBLE PRECISION,
            currency TEXT,
            dsp_url TEXT NOT NULL,
            indexed_at {real} NOT NULL,
            UNIQUE (space, provider_id, dataset_id)
        )""",
        "CREATE INDEX catalog_entries_provider ON catalog_entries (space, provider_id)",
        "CREATE INDEX catalog_entries_filters ON catalog_entries (sector, region)",
    ]
    if dialect == "postgresql":
        statements += [
            "ALTER TABLE catalog_entries ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
            " (to_tsvector('simple', title || ' ' || description || ' ' || keywords)) STORED",
            "CREATE INDEX catalog_entries_tsv ON catalog_entries USING GIN (tsv)",
        ]
    else:
        statements.append(
            "CREATE VIRTUAL TABLE catalog_fts USING fts5(title, description, keywords,"
            " tokenize='unicode61')"
        )
    return statements


def _v6(dialect: str) -> list[str]:
    # The evidence log (append-only, hash-chained) and its countersigned checkpoints; at the
    # operator, the checkpoints it signed for members, listings and certificates.
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    return [
        f"""CREATE TABLE evidence (
            seq {big} PRIMARY KEY,
            at {real} NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        f"""CREATE TABLE evidence_head (
            id INTEGER PRIMARY KEY,
            seq {big} NOT NULL,
            hash TEXT NOT NULL
        )""",
        "INSERT INTO evidence_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')",
        f"""CREATE TABLE checkpoints (
            seq {big} NOT NULL,
            hash TEXT NOT NULL,
            operator TEXT NOT NULL,
            token TEXT NOT NULL,
            at {real} NOT NULL,
            PRIMARY KEY (seq, operator)
        )""",
        f"""CREATE TABLE member_checkpoints (
            participant_id TEXT NOT NULL,
            seq {big} NOT NULL,
            hash TEXT NOT NULL,
            token TEXT NOT NULL,
            at {real} NOT NULL,
            PRIMARY KEY (participant_id, seq)
        )""",
        f"""CREATE TABLE listings (
            id TEXT PRIMARY KEY,
            provider_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            version_hash TEXT NOT NULL,
            submission TEXT NOT NULL,
            status TEXT NOT NULL,
            reasons TEXT,
            assessment TEXT,
            certificate TEXT,
            submitted_at {real} NOT NULL,
            updated_at {real} NOT NULL
        )""",
        "CREATE INDEX listings_dataset ON listings (provider_id, dataset_id)",
        f"""CREATE TABLE certificates (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            token TEXT NOT NULL,
            issued_at {real} NOT NULL
        )""",
        f"""CREATE TABLE crossborder (
            year INTEGER NOT NULL,
            dataset_id TEXT NOT NULL,
            persons {big} NOT NULL,
            sensitive INTEGER NOT NULL,
            at {real} NOT NULL,
            PRIMARY KEY (year, dataset_id)
        )""",
        "ALTER TABLE datasets ADD COLUMN declaration TEXT",
        "ALTER TABLE datasets ADD COLUMN profile TEXT",
        "ALTER TABLE datasets ADD COLUMN version TEXT",
    ]


def _v7(dialect: str) -> list[str]:
    # Compute-to-data: jobs (at the provider and, as a mirror, at the consumer) and the
    # differential-privacy budget spent per agreement.
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    return [
        "ALTER TABLE datasets ADD COLUMN compute_rule TEXT",
        f"""CREATE TABLE compute_jobs (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            agreement_id TEXT NOT NULL,
            consumer_id TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            query TEXT NOT NULL,
            query_sha256 TEXT NOT NULL,
            purpose TEXT,
            checked_sql TEXT,
            state TEXT NOT NULL,
            reason TEXT,
            epsilon {real} NOT NULL DEFAULT 0,
            result TEXT,
            result_sha256 TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL
        )""",
        "CREATE INDEX compute_jobs_state ON compute_jobs (role, state, created_at)",
        f"""CREATE TABLE compute_budget (
            agreement_id TEXT PRIMARY KEY,
            spent {real} NOT NULL
        )""",
    ]


def _v8(dialect: str) -> list[str]:
    # DCAT update frequency of a product (dct:accrualPeriodicity).
    return ["ALTER TABLE datasets ADD COLUMN update_frequency TEXT"]


def _v9(dialect: str) -> list[str]:
    # Product versions of several files (one row per file), the version chain of a product, and
    # products served by an HTTP API (its descriptor).
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    return [
        f"""CREATE TABLE dataset_files (
            dataset_id TEXT NOT NULL REFERENCES datasets(id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            size {big} NOT NULL,
            sha256 TEXT NOT NULL,
            media_type TEXT NOT NULL,
            PRIMARY KEY (dataset_id, name)
        )""",
        "INSERT INTO dataset_files (dataset_id, position, name, path, size, sha256, media_type)"
        " SELECT id, 0, COALESCE(filename, id), path, COALESCE(size, 0), sha256, media_type"
        " FROM datasets WHERE path IS NOT NULL AND sha256 IS NOT NULL",
        "ALTER TABLE datasets ADD COLUMN product_id TEXT",
        "ALTER TABLE datasets ADD COLUMN previous_version TEXT",
        "ALTER TABLE datasets ADD COLUMN api TEXT",
        "CREATE INDEX datasets_product ON datasets (product_id)",
    ]


def _v10(dialect: str) -> list[str]:
    # Refused requests counted per time window instead of one row each (and evidence entry
    # each); the old one-row-per-refusal log is folded into minute windows, its text cut.
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    window = "floor(at / 60) * 60" if dialect == "postgresql" else "CAST(at / 60 AS INTEGER) * 60"
    return [
        f"""CREATE TABLE refusals (
            window_start {real} NOT NULL,
            surface TEXT NOT NULL,
            issuer TEXT NOT NULL,
            reason TEXT NOT NULL,
            count {big} NOT NULL,
            first_at {real} NOT NULL,
            last_at {real} NOT NULL,
            summarized INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (window_start, surface, issuer, reason)
        )""",
        "CREATE INDEX refusals_open ON refusals (summarized, window_start)",
        "CREATE INDEX refusals_recent ON refusals (last_at)",
        "INSERT INTO refusals (window_start, surface, issuer, reason, count, first_at, last_at,"
        f" summarized) SELECT {window}, substr(path, 1, 200), substr(COALESCE(issuer, ''), 1, 200),"
        " substr(reason, 1, 200), COUNT(*), MIN(at), MAX(at), 1 FROM auth_failures"
        f" GROUP BY {window}, substr(path, 1, 200), substr(COALESCE(issuer, ''), 1, 200),"
        " substr(reason, 1, 200)",
        "DROP TABLE auth_failures",
    ]


def _v11(dialect: str) -> list[str]:
    # Compute submissions carry the consumer's key (a retry finds the same job), the consumer's
    # mirror remembers where its job lives, and the overlap audit keeps, per consumer and
    # product, the atoms of what was released (a Parquet blob of hashed row classes).
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    blob = "BYTEA" if dialect == "postgresql" else "BLOB"
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    return [
        "ALTER TABLE compute_jobs ADD COLUMN submission_key TEXT",
        "ALTER TABLE compute_jobs ADD COLUMN provider_url TEXT",
        f"""CREATE TABLE compute_audit (
            product_id TEXT NOT NULL,
            consumer_id TEXT NOT NULL,
            state {blob},
            row_classes {big} NOT NULL DEFAULT 0,
            updated_at {real} NOT NULL,
            PRIMARY KEY (product_id, consumer_id)
        )""",
        # The privacy budget is the consumer's on the product, across all its agreements and
        # versions: negotiating again does not buy a fresh one.
        f"""CREATE TABLE compute_spent (
            product_id TEXT NOT NULL,
            consumer_id TEXT NOT NULL,
            spent {real} NOT NULL,
            PRIMARY KEY (product_id, consumer_id)
        )""",
        "INSERT INTO compute_spent (product_id, consumer_id, spent)"
        " SELECT COALESCE(d.product_id, d.id), a.consumer_id, SUM(b.spent) FROM compute_budget b"
        " JOIN agreements a ON a.id = b.agreement_id JOIN datasets d ON d.id = a.dataset_id"
        " GROUP BY COALESCE(d.product_id, d.id), a.consumer_id",
    ]


def _v12(dialect: str) -> list[str]:
    # People of the node (the portal): accounts with roles, server-side sessions (only the
    # hash of a session's token is kept), and failed logins counted per name per window.
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    return [
        f"""CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL DEFAULT '',
            password_hash TEXT NOT NULL,
            roles TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL
        )""",
        f"""CREATE TABLE user_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            csrf TEXT NOT NULL,
            created_at {real} NOT NULL,
            last_seen {real} NOT NULL
        )""",
        "CREATE INDEX user_sessions_user ON user_sessions (user_id)",
        f"""CREATE TABLE login_failures (
            username TEXT NOT NULL,
            window_start {real} NOT NULL,
            count {big} NOT NULL,
            PRIMARY KEY (username, window_start)
        )""",
    ]


MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12]
