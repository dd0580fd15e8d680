"""Assembling one node from its settings: store, keys, trust, services, HTTP app, worker.

Start-up order matters: migrate the store, release outbox leases left by a
killed process (SQLite only: one process owns the file), remove the partial copies
of publishes a killed process left in the blob folder (only those no live process
owns: replicas may share it, see :mod:`trustspace.store.blobs`), then start the
worker so every process interrupted by a crash resumes.

The HTTP app is wrapped in the edge (:mod:`trustspace.edge`: body bounds and
error bodies per surface); every call to another node goes through
:mod:`trustspace.services.peers`.  A refused unauthenticated request is counted
in the bounded refusal log (:mod:`trustspace.store.audit`), not logged one by one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from trustspace import edge
from trustspace.api import api_routes
from trustspace.computeapi import compute_routes
from trustspace.core.compute import Limits
from trustspace.dataplane.compute import FAILED
from trustspace.dataplane.server import MAX_API_BODY, Denied, Grant, pull_routes
from trustspace.dsp.auth import (
    FixedHeaderAuthenticator,
    StoreReplayGuard,
    TokenAuthenticator,
    Verifier,
)
from trustspace.dsp.client import DspClient
from trustspace.dsp.routes import BASE_PATH, Authenticator, dsp_routes, version_route
from trustspace.operator import registry
from trustspace.operator.federation import Federation
from trustspace.operator.listings import Listings
from trustspace.operator.routes import operator_routes
from trustspace.operator.service import LocalAnchors, Operator
from trustspace.services import compute, listing, peers, transfers
from trustspace.services.context import Identity, NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.services.monitor import Periodic, UsageMonitor
from trustspace.services.outbox import OutboxWorker
from trustspace.services.peers import RemoteError
from trustspace.settings import Settings
from trustspace.store import audit, blobs, evidence, repo
from trustspace.store.db import Database
from trustspace.trust.credentials import MemberClaims, MembershipVerifier
from trustspace.trust.keys import NodeKey
from trustspace.trust.membership import Membership
from trustspace.trust.operators import OperatorClient, parse_operators
from trustspace.trust.tokens import AuthError, Principal, TokenVerifier, bearer, issue_token
from trustspace.trust.trustlist import TrustList, TrustListFile

log = logging.getLogger("trustspace.node")


def _identity(region: str, sector: str, roles: Any, space: str) -> Identity:
    """Verified membership as policy facts: the region, and party collections for the space,
    the sector (``sector:health``) and each role (``role:provider``)."""
    groups = {space, f"sector:{sector}", *(f"role:{r}" for r in roles)}
    return Identity(region=region, member_of=frozenset(groups))


def _claimed_issuer(authorization: str | None) -> str | None:
    token = (authorization or "").partition(" ")[2].strip()
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


def _check(settings: Settings) -> None:
    positive = ("max_body_bytes", "body_timeout", "header_timeout", "max_connections",
                "peer_timeout", "refusal_window", "refusal_rows")  # fmt: skip
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
        base = settings.base_url
        self.ctx = NodeContext(
            db=self.db,
            participant_id=settings.participant_id,
            dsp_base=base + BASE_PATH,
            data_base=base + "/data",
            blob_dir=data / "blobs",
            identity=self.identity,
            standing=self.standing,
            own_region=self.own_region,
            compute_limits=Limits(
                settings.compute_max_query_bytes, settings.compute_max_query_tokens
            ),
        )
        wait = settings.peer_timeout
        self.http = httpx.Client(
            timeout=httpx.Timeout(wait, connect=min(wait, 5.0)),
            limits=httpx.Limits(max_connections=64),
        )
        self._verified: dict[str, MemberClaims] = {}
        token_auth = TokenAuthenticator(self._verifier(settings), time.time, seen=self._seen)
        self.auth: Authenticator = token_auth
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
            "refusal-summaries", settings.refusal_window, self.summarize_refusals
        )
        self.dsp_client = DspClient(self.http, self.authorization, self.membership.explain)
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
        extra_routes: list[BaseRoute] = []
        if settings.tck:
            from trustspace import tck

            # The TCK's property files quote the value and Java keeps the quotes: accept both.
            value = settings.tck_authorization
            self.auth = FixedHeaderAuthenticator(
                (value, f'"{value}"'), tck.TCK_PARTICIPANT, token_auth
            )
            extra_routes = tck.install(self)
        self.app = self._build_app(extra_routes)

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

    def _seen(self, principal: Principal) -> None:
        member = principal.claims.get("membership")
        if isinstance(member, MemberClaims):
            self._verified[principal.participant_id] = member

    def _set_key(self, key: NodeKey) -> None:
        self.key = key

    def checkpoint(self) -> list[dict[str, Any]]:
        """Have the evidence log head countersigned: by each trusted operator, or by itself
        when this node is the operator."""
        with self.db.tx() as tx:
            seq, digest = evidence.head(tx)
            done = {(c["operator"], c["seq"]) for c in evidence.checkpoints(tx)}
        if seq == 0:
            return []
        signed: list[dict[str, Any]] = []
        if self.operator is not None and (self.operator.operator_id, seq) not in done:
            token = self.operator.countersign(self.operator.operator_id, seq, digest)
            signed.append({"operator": self.operator.operator_id, "seq": seq, "token": token})
        for op_id in self.operator_client.trusted if self.operator_client else []:
            url = self.operator_client.url(op_id) if self.operator_client else None
            if url is None or (op_id, seq) in done:
                continue
            try:
                answer = peers.call(self.http, "POST", url + "/operator/checkpoints",
                                    peer_id=op_id, authorization=self.authorization,
                                    body={"seq": seq, "hash": digest})  # fmt: skip
                token = str(answer["checkpoint"])
            except (RemoteError, KeyError) as exc:
                log.warning("checkpoint at %s failed: %s", op_id, exc)
                continue
            signed.append({"operator": op_id, "seq": seq, "token": token})
        with self.db.tx() as tx:
            for item in signed:
                evidence.store_checkpoint(
                    tx, seq, digest, item["operator"], item["token"], time.time()
                )
        return signed

    def _report_trades(self) -> None:
        """Trade certificates for finalised agreements, from every operator we belong to."""
        client = self.operator_client
        if client is None or not self.membership.credentials():
            return
        for op_id in client.trusted:
            url = client.url(op_id)
            if url is not None:
                try:
                    listing.report_trades(self.ctx, self.http, self.authorization, (op_id, url))
                except (Refused, RemoteError) as exc:
                    log.warning("trade reports to %s: %s", op_id, exc.reason)

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

    def identity(self, participant_id: str) -> Identity:
        """The verified facts about a participant: from its membership credential (as last
        verified, or the operator's directory), else from the static trust list."""
        member = self._verified.get(participant_id)
        if member is not None:
            return _identity(member.region, member.sector, member.roles, member.space)
        if self.operator is not None:
            with self.db.tx() as tx:
                entry = registry.get_member(tx, participant_id)
            if entry is not None and entry["status"] == "active":
                return _identity(
                    entry["region"], entry["sector"], entry["roles"], self.operator.operator_id
                )
        if self.operator_client is not None:
            found = self.operator_client.member(participant_id)
            if found is not None:
                return _identity(found["region"], found["sector"], found["roles"], found["space"])
        p = self.trust.get(participant_id)
        if p is None:
            return Identity()
        return Identity(region=p.region, member_of=frozenset(p.member_of))

    def own_region(self) -> str | None:
        """This node's region, as its membership credentials state it."""
        for held in self.membership.describe()["credentials"]:
            return str(held["claims"]["region"])
        return None

    def roles_of(self, participant_id: str) -> tuple[str, ...]:
        """The roles in a participant's verified membership credential."""
        member = self._verified.get(participant_id)
        return member.roles if member is not None else ()

    def standing(self, participant_id: str) -> str | None:
        """Why this participant may not be dealt with any more (suspended, revoked)."""
        if self._local is not None:
            problem = self._local.standing(participant_id)
            if problem is not None:
                return problem
        if self.operator_client is not None:
            return self.operator_client.standing(participant_id)
        return None

    def authenticate(self, authorization: str | None, surface: str = "dsp") -> str:
        """Who sent this request; a refusal is counted in the refusal log and raised."""
        try:
            return self.auth.authenticate(authorization)
        except AuthError as exc:
            issuer = _claimed_issuer(authorization)
            log.warning("refused %s from %s: %s", audit.clip(surface), audit.clip(issuer or "?"),
                        audit.clip(exc.reason))  # fmt: skip
            self._refused(surface, issuer, exc.reason)
            raise

    def _refused(self, surface: str, issuer: str | None, reason: str) -> None:
        with self.db.tx(durable=False) as tx:
            audit.record_refusal(tx, time.time(), surface, issuer, reason,
                                 window=self.settings.refusal_window,
                                 max_rows=self.settings.refusal_rows)  # fmt: skip

    def summarize_refusals(self) -> int:
        """Write the evidence summaries of refusal windows that have closed."""
        with self.db.tx(durable=False) as tx:
            return audit.summarize(tx, time.time(), self.settings.refusal_window)

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

    def authorize_data(self, transfer_id: str, token: str, name: str | None = None) -> Grant:
        """A one-file version is served at the transfer's address; a version of several files
        answers its manifest there, and each file at ``<address>/<name>``."""
        try:
            tp, dataset = transfers.authorize(self.ctx, transfer_id, token)
        except NotFound as exc:  # no such transfer, or not its token: the caller is unknown
            self._refused("data", None, exc.reason)
            raise Denied(401, exc.reason) from exc
        except Refused as exc:  # the transfer's own token, at a moment it may not read
            self._refused_access(transfer_id, exc.reason)
            raise Denied(403, exc.reason) from exc
        if dataset.api is not None:
            return self._api_grant(tp.id, dataset.api, name or "")
        if name is None and dataset.fileset:
            return Grant(path=Path(), manifest={
                "versionHash": dataset.sha256,
                "files": [{"name": f.name, "size": f.size, "sha256": f.sha256,
                           "mediaType": f.media_type} for f in dataset.files],
            })  # fmt: skip
        if name is None:
            chosen = dataset.files[0]
        else:
            found = [f for f in dataset.files if f.name == name and dataset.fileset]
            if not found:
                raise Denied(404, f"no file {name} in this transfer")
            chosen = found[0]
        return Grant(path=Path(chosen.path), media_type=chosen.media_type, filename=chosen.name,
                     consume=lambda: self._consume(tp.id))  # fmt: skip

    def _api_grant(self, transfer_id: str, api: dict[str, Any], subpath: str) -> Grant:
        """A call to an HTTP API product goes to the backend under its base URL, never beside
        it: a path with '..', '.' or empty segments is refused."""
        segments = subpath.split("/") if subpath else []
        if any(seg in ("", ".", "..") or "\\" in seg for seg in segments):
            raise Denied(400, f"path {subpath!r}: use plain segments under the API's base")
        headers = {}
        if api.get("authEnv"):
            secret = os.environ.get(api["authEnv"])
            if secret is None:
                raise Denied(403, "the provider has not configured the API's credential")
            headers[api["authHeader"]] = secret
        url = api["baseUrl"] + (
            "/" + "/".join(quote(s, safe="") for s in segments) if segments else ""
        )
        return Grant(path=Path(), upstream=url, upstream_headers=headers,
                     upstream_methods=tuple(api.get("methods", ["GET"])),
                     media_type=api["mediaType"], consume=lambda: self._consume(transfer_id))  # fmt: skip

    def _wake(self) -> None:
        """Something was queued: messages for the outbox, or a compute job."""
        self.worker.wake()
        self.computer.wake()

    def _refused_access(self, transfer_id: str, reason: str) -> None:
        with self.db.tx() as tx:
            evidence.record(tx, at=time.time(), kind="data-access", subject=transfer_id,
                            data={"allowed": False, "reason": audit.clip(reason)})  # fmt: skip

    def _consume(self, transfer_id: str) -> None:
        try:
            transfers.consume(self.ctx, transfer_id)
        except NotFound as exc:
            raise Denied(401, exc.reason) from exc
        except Refused as exc:
            raise Denied(403, exc.reason) from exc

    def _build_app(self, extra: list[BaseRoute]) -> ASGIApp:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.start()
            try:
                yield
            finally:
                self.stop()

        routes: list[BaseRoute] = [
            version_route(),
            *dsp_routes(self.ctx, self),
            *pull_routes(self.authorize_data),
            *api_routes(self),
            *(operator_routes(self) if self.operator is not None else []),
            *compute_routes(self),
            *extra,
        ]
        self.routes = routes

        app = Starlette(routes=routes, lifespan=lifespan,
                        exception_handlers=edge.exception_handlers())  # fmt: skip
        return edge.BodyLimit(
            edge.NormalPath(app),
            limit=self.settings.max_body_bytes,
            timeout=self.settings.body_timeout,
            limits={"/data/": MAX_API_BODY},
        )

    def start(self) -> None:
        if self.db.dialect == "sqlite":
            with self.db.tx() as tx:
                repo.release_leases(tx)
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
