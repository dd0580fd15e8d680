"""Node settings: one table, four sources.

Precedence: defaults < settings file (TOML) < environment (``TRUSTSPACE_<NAME>``)
< command-line flags.  :func:`describe` lists every effective value with where
it came from; secrets are shown as ``***``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: type = str
    secret: bool = False


TCK_PARTICIPANT_DEFAULT = "CONNECTOR_UNDER_TEST"
"""The id the DSP TCK is told the connector under test has."""
TCK_AUTHORIZATION_DEFAULT = '{"region": "any", "audience": "any", "clientId":"any"}'
"""The ``Authorization`` value the TCK sends by default (its property files' value)."""

SETTINGS: tuple[Setting, ...] = (
    Setting("participant_id", "node", "This node's participant id (issuer of its DSP tokens)."),
    Setting("host", "127.0.0.1", "Address to listen on."),
    Setting("port", 8080, "Port to listen on.", int),
    Setting(
        "public_url",
        "",
        "URL other participants use to reach this node (default http://HOST:PORT).",
    ),
    Setting(
        "data_dir",
        "./trustspace-data",
        "Folder for the node key, the SQLite file and dataset blobs.",
    ),
    Setting(
        "database", "", "sqlite:///PATH or postgresql://... (default: SQLite file in data_dir)."
    ),
    Setting(
        "db_pool_size",
        10,
        "PostgreSQL connections for durable commits (plus half as many for outbox bookkeeping).",
        int,
    ),
    Setting("trust_list", "", "JSON file of trusted participants: id, public_key, address."),
    Setting(
        "management_key",
        "",
        "Bearer key for the management API (/api); empty disables it.",
        str,
        True,
    ),
    Setting("token_ttl", 60.0, "Lifetime of the signed DSP request tokens, in seconds.", float),
    Setting(
        "outbox_attempts",
        7,
        "Delivery attempts per DSP message before the process is terminated.",
        int,
    ),
    Setting("outbox_backoff", 0.5, "First retry delay in seconds; doubles per attempt.", float),
    Setting("outbox_concurrency", 32, "DSP messages in flight at once (to all peers).", int),
    Setting(
        "policy_monitor_interval",
        30.0,
        "Seconds between checks that end transfers whose agreement no longer holds; 0 turns the"
        " monitor off (every data-plane access is checked regardless).",
        float,
    ),
    Setting(
        "tck",
        False,
        "Expose the DSP TCK test profile (seed data, scripts, webhooks). Never in production.",
        bool,
    ),
    Setting(
        "tck_authorization",
        TCK_AUTHORIZATION_DEFAULT,
        "Authorization value accepted as the TCK participant.",
        str,
        True,
    ),
    Setting(
        "role",
        "connector",
        "connector (a participant's node) or operator (runs the space: onboarding, credentials,"
        " revocation, the federated catalog).",
    ),
    Setting(
        "operators",
        "",
        "Operators this node trusts, as id=url pairs separated by commas; requests must then"
        " carry a membership credential from one of them.",
    ),
    Setting(
        "operator_refresh",
        60.0,
        "Seconds between refreshes of operator keys, status lists and member directories.",
        float,
    ),
    Setting(
        "membership_poll",
        5.0,
        "Seconds between asks to an operator whether it has decided this node's pending"
        " membership application; the credential is held as soon as it is approved. 0: only at"
        " each operator refresh.",
        float,
    ),
    Setting(
        "compute_max_query_bytes",
        16384,
        "Compute-to-data: the longest query text accepted, in bytes; longer ones are refused"
        " before they are parsed.",
        int,
    ),
    Setting(
        "compute_max_query_tokens",
        2000,
        "Compute-to-data: the most SQL tokens a query may have (the guard's work is linear in"
        " them); more are refused before they are parsed.",
        int,
    ),
    Setting("credential_ttl_days", 30.0, "Operator: validity of membership credentials.", float),
    Setting(
        "crawl_interval",
        300.0,
        "Operator: seconds between crawls of the members' catalogs; 0 crawls on demand only.",
        float,
    ),
    Setting(
        "linked_spaces",
        "",
        "Operator: URLs of other operators whose federated catalogs this one includes.",
    ),
    Setting(
        "regulator_key",
        "",
        "Operator: bearer key of the regulator's read-only access to listings, certificates,"
        " members and checkpoints (empty: no regulator access).",
        secret=True,
    ),
    Setting(
        "checkpoint_interval",
        300.0,
        "Seconds between sending this node's evidence log head to its operators to be"
        " countersigned; 0 turns it off.",
        float,
    ),
    Setting(
        "max_body_bytes",
        1 << 20,
        "Largest request body accepted, in bytes; a larger one is refused with 413 while it"
        " arrives (the data plane's API calls have their own 1 MiB).",
        int,
    ),
    Setting(
        "max_upload_bytes",
        4 << 30,
        "Largest file uploaded to the management API (POST /api/uploads) to be published, in"
        " bytes; streamed to disk, refused with 413 past it.",
        int,
    ),
    Setting(
        "upload_timeout",
        3600.0,
        "Seconds an upload to the management API has to arrive whole (408 after); other"
        " bodies have body_timeout.",
        float,
    ),
    Setting(
        "session_idle",
        1800.0,
        "Seconds a portal session may stay unused before it ends (the person signs in again).",
        float,
    ),
    Setting(
        "session_max",
        43200.0,
        "Seconds after sign-in a portal session ends, used or not.",
        float,
    ),
    Setting(
        "portal_assets",
        "",
        "Folder of the portal's front-end packages from npm (default: node_modules beside the"
        " project, installed by scripts/setup.sh); without them pages work with JavaScript off.",
    ),
    Setting(
        "body_timeout",
        30.0,
        "Seconds a client has to send a whole request body (408 after).",
        float,
    ),
    Setting(
        "header_timeout",
        10.0,
        "Seconds a client has to send a request's headers after connecting or, on a kept-alive"
        " connection, after starting the request (408 and closed after).",
        float,
    ),
    Setting(
        "max_connections",
        512,
        "Open client connections at most; one more is answered 503 and closed at once.",
        int,
    ),
    Setting(
        "peer_timeout",
        10.0,
        "Seconds to wait for another node (peer connector or operator) to answer; past it the"
        " call fails and a management call that needed it answers 504.",
        float,
    ),
    Setting(
        "refusal_window",
        60.0,
        "Seconds per window in which refused unauthenticated requests are counted, one row per"
        " surface, issuer and reason, and summarized in one evidence entry.",
        float,
    ),
    Setting(
        "refusal_rows",
        100,
        "Distinct refusal rows per window at most; further refusals are counted in one"
        " overflow row.",
        int,
    ),
    Setting("log_level", "info", "Logging level."),
)

BY_NAME = {s.name: s for s in SETTINGS}


def _convert(setting: Setting, value: Any, source: str) -> Any:
    if value is None:
        return None
    try:
        if setting.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        return setting.type(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"setting {setting.name} from {source}: {value!r} is not a valid {setting.type.__name__}"
        ) from exc


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def base_url(self) -> str:
        return str(
            self.values["public_url"] or f"http://{self.values['host']}:{self.values['port']}"
        ).rstrip("/")

    @property
    def data_path(self) -> Path:
        return Path(self.values["data_dir"]).expanduser()

    @property
    def database_url(self) -> str:
        return str(self.values["database"] or f"sqlite:///{self.data_path / 'trustspace.db'}")


def load(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    env = os.environ if env is None else env
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read settings file {config_file}: {exc}") from exc
        for key, value in data.items():
            if key not in BY_NAME:
                raise ValueError(f"{config_file}: unknown setting {key!r}")
            values[key] = _convert(BY_NAME[key], value, str(config_file))
            sources[key] = f"file {config_file}"
    for s in SETTINGS:
        var = f"TRUSTSPACE_{s.name.upper()}"
        if var in env:
            values[s.name] = _convert(s, env[var], f"${var}")
            sources[s.name] = f"env {var}"
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key not in BY_NAME:
            raise ValueError(f"unknown setting {key!r}")
        values[key] = _convert(BY_NAME[key], value, "flag")
        sources[key] = "flag"
    return Settings(values, sources)


TCK_DEFAULTS = {"port": 8181, "participant_id": TCK_PARTICIPANT_DEFAULT}


def tck_defaults(settings: Settings, scratch_dir: str) -> Settings:
    """The TCK profile's own defaults, for what nobody set: port 8181, the participant id the
    TCK expects, and state in a throw-away folder."""
    values, sources = dict(settings.values), dict(settings.sources)
    for name, value in {**TCK_DEFAULTS, "data_dir": scratch_dir}.items():
        if sources[name] == "default":
            values[name] = value
            sources[name] = "default (--tck)"
    return Settings(values, sources)


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    rows = []
    for s in SETTINGS:
        value = settings.values[s.name]
        shown = "***" if s.secret and value else repr(value)
        rows.append((s.name, shown, settings.sources[s.name]))
    return rows
