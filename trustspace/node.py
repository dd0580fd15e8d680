"""Assembling one node from its settings: store, keys, trust, services, HTTP app, worker.

This module only wires and starts; the use cases it hands around live in
:mod:`trustspace.services`, and the surfaces get a
:class:`~trustspace.services.runtime.Runtime`, never the node.

Start-up order matters: migrate the store, release outbox leases left by a
killed process (SQLite only: one process owns the file), remove the partial copies
of publishes a killed process left in the blob folder (only those no live process
owns: replicas may share it, see :mod:`trustspace.store.blobs`), then start the
worker so every process interrupted by a crash resumes.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from trustspace import api, app, web
from trustspace.api.uploads import UPLOADS
from trustspace.core.compute import Limits
from trustspace.core.paths import BASE_PATH
from trustspace.dataplane.compute import FAILED
from trustspace.dataplane.server import MAX_API_BODY, pull_routes
from trustspace.dsp import compute as dsp_compute
from trustspace.dsp.auth import (
    FixedHeaderAuthenticator,
    StoreReplayGuard,
    TokenAuthenticator,
    Verifier,
)
from trustspace.dsp.routes import dsp_routes, version_route
from trustspace.operator import registry
from trustspace.operator import routes as operator_routes
from trustspace.operator.federation import Federation
from trustspace.operator.listings import Listings
from trustspace.operator.service import LocalAnchors, Operator
from trustspace.services import checkpoints, compute, listing
from trustspace.services.access import DataAccess
from trustspace.services.context import NodeContext
from trustspace.services.errors import Refused
from trustspace.services.gate import Authenticator, Gate
from trustspace.services.identity import Identities
from trustspace.services.membership import Membership
from trustspace.services.monitor import Periodic, UsageMonitor
from trustspace.services.operators import OperatorClient, parse_operators
from trustspace.services.outbox import OutboxWorker
from trustspace.services.peers import Peers, RemoteError
from trustspace.services.runtime import Runtime
from trustspace.settings import Settings
from trustspace.store import blobs
from trustspace.store import outbox as outbox_rows
from trustspace.store.db import Database
from trustspace.trust.credentials import MembershipVerifier
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import TokenVerifier, bearer, issue_token
from trustspace.trust.trustlist import TrustList, TrustListFile

log = logging.getLogger("trustspace.node")


def _check(settings: Settings) -> None:
    positive = ("max_body_bytes", "body_timeout", "max_upload_bytes", "upload_timeout",
                "header_timeout", "max_connections", "peer_timeout", "refusal_window",
                "refusal_rows", "session_idle", "session_max")  # fmt: skip
    for name in positive:
        if not getattr(settings, name) > 0:
            raise ValueError(f"setting {name} must be more than 0")


class Node:
    def __init__(self, settings: Settings) -> None:
        _check(settings)
        self.settings = settings
        self.on_stop: list[Callable[[], object]] = []
        data = settings.data_path
        data.mkdir(parents=True, exist_ok=True)
        self.key = NodeKey.load_or_create(data / "node.key")
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        self.db.migrate()
        self.trust_list = TrustListFile(Path(settings.trust_list)) if settings.trust_list else None
        self.trust: TrustList | TrustListFile = (
            TrustList([]) if self.trust_list is None else self.trust_list  # an empty one is falsy
        )
        wait = settings.peer_timeout
        self.http = httpx.Client(
            timeout=httpx.Timeout(wait, connect=min(wait, 5.0)),
            limits=httpx.Limits(max_connections=64),
        )
        self.peers = Peers(self.http, self.authorization)
        verifier = self._verifier(settings)
        self.identities = Identities(
            self.trust,
            self.operator_client,
            local_member=self._local_member if self.operator is not None else None,
            local_standing=self._local.standing if self._local is not None else None,
        )
        base = settings.base_url
        self.ctx = NodeContext(
            db=self.db,
            participant_id=settings.participant_id,
            dsp_base=base + BASE_PATH,
            data_base=base + "/data",
            blob_dir=data / "blobs",
            identity=self.identities.identity,
            standing=self.identities.standing,
            own_region=self.own_region,
            compute_limits=Limits(
                settings.compute_max_query_bytes, settings.compute_max_query_tokens
            ),
        )
        token_auth = TokenAuthenticator(verifier, time.time, seen=self.identities.seen)
        auth: Authenticator = token_auth
        if settings.tck:
            from trustspace import tck

            # The TCK's property files quote the value and Java keeps the quotes: accept both.
            value = settings.tck_authorization
            auth = FixedHeaderAuthenticator((value, f'"{value}"'), tck.TCK_PARTICIPANT, token_auth)
        self.gate = Gate(self.db, auth, window=settings.refusal_window,
                         max_rows=settings.refusal_rows)  # fmt: skip
        self.membership = Membership(
            data,
            settings.participant_id,
            self.ctx.dsp_base,
            key=lambda: self.key,
            set_key=self._set_key,
            operators=self.operator_client,
            http=self.http,
            applied=lambda: self.membership_poller.wake(),
        )
        self.membership_poller = Periodic(
            "membership-poll", settings.membership_poll, self.membership.poll_pending
        )
        self.federation: Federation | None = None
        self.listings: Listings | None = None
        if self.operator is not None:
            self.listings = Listings(self.operator)
            self.membership.hold(
                settings.participant_id,
                self.operator.self_credential(self.key, self.ctx.dsp_base),
                persist=False,
            )
            self.federation = Federation(
                self.db,
                settings.participant_id,
                settings.participant_id,
                self.http,
                self.authorization,
                linked=[u for u in settings.linked_spaces.split(",") if u.strip()],
                clock=time.time,
                listed=self.listings.listed,
            )
        self.crawler = Periodic("catalog-crawler", settings.crawl_interval, self._crawl)
        self.computer = Periodic("compute-jobs", 0.2, self._run_jobs)
        self.checkpointer = Periodic(
            "evidence-checkpoints", settings.checkpoint_interval, self.checkpoint
        )
        self.refusal_summaries = Periodic(
            "refusal-summaries", settings.refusal_window, self.gate.summarize
        )
        self.worker = OutboxWorker(
            self.ctx,
            self.http,
            self.authorization,
            max_attempts=settings.outbox_attempts,
            backoff=settings.outbox_backoff,
            concurrency=settings.outbox_concurrency,
        )
        self.ctx.wake = self._wake
        self.monitor = UsageMonitor(self.ctx, settings.policy_monitor_interval)
        self.runtime = Runtime(
            ctx=self.ctx,
            peers=self.peers,
            membership=self.membership,
            operators=self.operator_client,
            trust=self.trust_list,
            explain=self.membership.explain,
            management_key=settings.management_key,
            regulator_key=settings.regulator_key,
            authenticate=self.gate.authenticate,
            checkpoint=self.checkpoint,
            roles_of=self.identities.roles_of,
        )
        self.portal = self._portal()
        self.app, self.routes = app.build(
            self._routes(),
            lifespan=self._lifespan,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout,
            body_limits={
                "/data/": MAX_API_BODY,
                UPLOADS: settings.max_upload_bytes,
                web.UPLOADS: settings.max_upload_bytes,
            },
            body_timeouts={UPLOADS: settings.upload_timeout, web.UPLOADS: settings.upload_timeout},
            pages=(web.PORTAL, web.error_page(self.portal)),
        )

    def _portal(self) -> web.Portal:
        settings = self.settings
        assets = Path(settings.portal_assets) if settings.portal_assets else web.DEFAULT_ASSETS
        host = urllib.parse.urlsplit(settings.base_url).hostname or ""
        secure = settings.base_url.startswith("https:") or host in ("localhost", "127.0.0.1", "::1")
        if not secure:
            log.warning("the portal is served over plain http at %s: its cookies are not"
                        " marked Secure; serve it behind https", settings.base_url)  # fmt: skip
        parts = None
        if self.operator is not None:
            assert self.federation is not None and self.listings is not None
            parts = web.OperatorParts(self.operator, self.federation, self.listings)
        return web.Portal(self.runtime, idle=settings.session_idle, absolute=settings.session_max,
                          secure_cookies=secure, assets=assets if assets.is_dir() else None,
                          operator=parts)  # fmt: skip

    def _routes(self) -> list[BaseRoute]:
        rt = self.runtime
        routes: list[BaseRoute] = [
            version_route(),
            *dsp_routes(self.ctx, self.gate.authenticate),
            *dsp_compute.routes(rt),
            *pull_routes(DataAccess(self.ctx, self.gate.refused).authorize),
            *api.routes(rt),
            *web.routes(self.portal),
        ]
        if self.operator is not None:
            assert self.federation is not None and self.listings is not None
            routes += operator_routes.routes(rt, self.operator, self.federation, self.listings)
        if self.settings.tck:
            from trustspace import tck

            routes += tck.install(self.ctx)
        return routes

    def _verifier(self, settings: Settings) -> Verifier:
        """Membership credentials when this node runs or trusts an operator; the static trust
        list otherwise (and alongside, for peers it names)."""
        tokens = TokenVerifier(
            settings.participant_id, self.trust, StoreReplayGuard(self.db, time.time)
        )
        self.operator: Operator | None = None
        self.operator_client: OperatorClient | None = None
        self._local: LocalAnchors | None = None
        if settings.role not in ("connector", "operator"):
            raise ValueError(f"role {settings.role!r}: use connector or operator")
        if settings.operators:
            self.operator_client = OperatorClient(
                self.http, parse_operators(settings.operators), refresh=settings.operator_refresh
            )
        if settings.role == "operator":
            self.operator = Operator(
                self.db,
                settings.participant_id,
                settings.data_path / "operator-keys",
                credential_ttl=settings.credential_ttl_days * 86400,
                status_ttl=max(5 * settings.operator_refresh, 60.0),
            )
            self._local = LocalAnchors(self.operator)
            return MembershipVerifier(
                settings.participant_id, self._local, [settings.participant_id], tokens,
                static=self.trust_list,
            )  # fmt: skip
        if self.operator_client is not None:
            return MembershipVerifier(
                settings.participant_id, self.operator_client, self.operator_client.trusted,
                tokens, static=self.trust_list,
            )  # fmt: skip
        return tokens

    def _local_member(self, participant_id: str) -> tuple[Mapping[str, Any], str] | None:
        assert self.operator is not None
        with self.db.tx() as tx:
            entry = registry.get_member(tx, participant_id)
        if entry is None or entry["status"] != "active":
            return None
        return entry, self.operator.operator_id

    def _set_key(self, key: NodeKey) -> None:
        self.key = key

    def checkpoint(self) -> list[dict[str, Any]]:
        """Have the evidence log head countersigned (see :mod:`trustspace.services.checkpoints`)."""
        own = None
        if self.operator is not None:
            op = self.operator
            own = (op.operator_id,
                   lambda seq, digest: (op.operator_id, op.countersign(op.operator_id, seq, digest)))  # fmt: skip
        return checkpoints.checkpoint(self.db, self.peers, self.operator_client, own)

    def summarize_refusals(self) -> int:
        return self.gate.summarize()

    def _report_trades(self) -> None:
        """Trade certificates for finalised agreements, and the registration certificates of
        listed versions, from every operator we belong to."""
        client = self.operator_client
        if client is None or not self.membership.credentials():
            return
        for op_id in client.trusted:
            url = client.url(op_id)
            if url is not None:
                try:
                    listing.report_trades(self.ctx, self.http, self.authorization, (op_id, url))
                    listing.collect_registrations(self.ctx, self.http, self.authorization,
                                                  (op_id, url))  # fmt: skip
                except (Refused, RemoteError) as exc:
                    log.warning("certificates from %s: %s", op_id, exc.reason)

    def _run_jobs(self) -> None:
        while (job := compute.claim(self.ctx)) is not None:
            try:
                compute.execute(self.ctx, job)
            except Exception:  # a bug must not leave the job RUNNING or stop the runner
                log.exception("compute job %s", job["id"])
                compute.fail(self.ctx, job["id"], FAILED)  # a fixed sentence, never the error

    def _crawl(self) -> None:
        if self.federation is not None:
            report = self.federation.crawl()
            log.info("catalog crawl: %s", report)

    def own_region(self) -> str | None:
        """This node's region, as its membership credentials state it."""
        for held in self.membership.describe()["credentials"]:
            return str(held["claims"]["region"])
        return None

    def authorization(self, peer_id: str) -> str:
        credentials = self.membership.credentials()
        token = issue_token(
            self.key,
            self.settings.participant_id,
            peer_id,
            now=time.time(),
            ttl=self.settings.token_ttl,
            extra={"credentials": credentials} if credentials else None,
        )
        return bearer(token)

    def _wake(self) -> None:
        """Something was queued: messages for the outbox, or a compute job."""
        self.worker.wake()
        self.computer.wake()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.start()
        try:
            yield
        finally:
            self.stop()

    def start(self) -> None:
        if self.db.dialect == "sqlite":
            with self.db.tx() as tx:
                outbox_rows.release_leases(tx)
        blobs.remove_leftovers(self.ctx.blob_dir)  # copies of killed publishes; never a live one
        self.worker.start()
        self.worker.wake()
        self.monitor.start()
        if self.operator_client is not None:
            self.operator_client.on_refresh.append(self.membership.poll)
            self.operator_client.on_refresh.append(self._report_trades)
            self.operator_client.start()
            self.membership_poller.start()
            self.membership_poller.wake()  # an application approved while the node was down
        if self.federation is not None:
            self.crawler.start()
        self.checkpointer.start()
        self.refusal_summaries.start()
        compute.requeue_interrupted(self.ctx)
        self.computer.start()
        log.info("node %s up: DSP %s", self.settings.participant_id, self.ctx.dsp_base)

    def stop(self) -> None:
        self.computer.stop()
        self.refusal_summaries.stop()
        self.checkpointer.stop()
        self.crawler.stop()
        self.membership_poller.stop()
        if self.operator_client is not None:
            self.operator_client.stop()
        self.monitor.stop()
        self.worker.stop()
        self.http.close()
        self.db.close()
        for fn in self.on_stop:
            fn()
