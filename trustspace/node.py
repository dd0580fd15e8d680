"""Assembling one node from its settings: store, keys, trust, services, HTTP app, worker.

Start-up order matters: migrate the store, release outbox leases left by a
killed process (SQLite only: one process owns the file), then start the worker
so every process interrupted by a crash resumes.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from trustspace.api import api_routes
from trustspace.dataplane.server import Denied, Grant, pull_routes
from trustspace.dsp.auth import FixedHeaderAuthenticator, StoreReplayGuard, TokenAuthenticator
from trustspace.dsp.client import DspClient
from trustspace.dsp.routes import BASE_PATH, Authenticator, dsp_routes, version_route
from trustspace.services import transfers
from trustspace.services.context import Identity, NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.services.monitor import UsageMonitor
from trustspace.services.outbox import OutboxWorker
from trustspace.settings import Settings
from trustspace.store import repo
from trustspace.store.db import Database
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import TokenVerifier, bearer, issue_token
from trustspace.trust.trustlist import TrustList

log = logging.getLogger("trustspace.node")


class StripTrailingSlash:
    """Treat ``/path/`` as ``/path`` (peers differ on callback addresses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope = dict(scope)
            scope["path"] = scope["path"].rstrip("/")
        await self.app(scope, receive, send)


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.on_stop: list[Callable[[], object]] = []
        data = settings.data_path
        data.mkdir(parents=True, exist_ok=True)
        self.key = NodeKey.load_or_create(data / "node.key")
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        self.db.migrate()
        self.trust = (
            TrustList.load(Path(settings.trust_list)) if settings.trust_list else TrustList([])
        )
        base = settings.base_url
        self.ctx = NodeContext(
            db=self.db,
            participant_id=settings.participant_id,
            dsp_base=base + BASE_PATH,
            data_base=base + "/data",
            blob_dir=data / "blobs",
            identity=self.identity,
        )
        verifier = TokenVerifier(
            settings.participant_id, self.trust, StoreReplayGuard(self.db, time.time)
        )
        token_auth = TokenAuthenticator(verifier, time.time)
        self.auth: Authenticator = token_auth
        self.http = httpx.Client(
            timeout=httpx.Timeout(10.0, connect=5.0), limits=httpx.Limits(max_connections=64)
        )
        self.dsp_client = DspClient(self.http, self.authorization)
        self.worker = OutboxWorker(
            self.ctx,
            self.http,
            self.authorization,
            max_attempts=settings.outbox_attempts,
            backoff=settings.outbox_backoff,
            concurrency=settings.outbox_concurrency,
        )
        self.ctx.wake = self.worker.wake
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

    def identity(self, participant_id: str) -> Identity:
        """The verified facts about a participant: today from the trust list."""
        p = self.trust.get(participant_id)
        if p is None:
            return Identity()
        return Identity(region=p.region, member_of=frozenset(p.member_of))

    def authorization(self, peer_id: str) -> str:
        token = issue_token(
            self.key,
            self.settings.participant_id,
            peer_id,
            now=time.time(),
            ttl=self.settings.token_ttl,
        )
        return bearer(token)

    def authorize_data(self, transfer_id: str, token: str) -> Grant:
        try:
            tp, path = transfers.authorize(self.ctx, transfer_id, token)
        except NotFound as exc:
            raise Denied(401, exc.reason) from exc
        except Refused as exc:
            raise Denied(403, exc.reason) from exc
        return Grant(path=Path(path), consume=lambda: self._consume(tp.id))

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
            *extra,
        ]

        async def unavailable(request: Request, exc: Exception) -> Response:
            log.error("database unavailable: %s", exc)
            return JSONResponse(
                {"error": "the database is unavailable; try again"}, status_code=503
            )

        handlers: dict[Any, Any] = {
            exc: unavailable
            for exc in (psycopg.OperationalError, PoolTimeout, sqlite3.OperationalError)
        }
        return StripTrailingSlash(
            Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
        )

    def authenticate(self, authorization: str | None) -> str:
        return self.auth.authenticate(authorization)

    def start(self) -> None:
        if self.db.dialect == "sqlite":
            with self.db.tx() as tx:
                repo.release_leases(tx)
        self.worker.start()
        self.worker.wake()
        self.monitor.start()
        log.info("node %s up: DSP %s", self.settings.participant_id, self.ctx.dsp_base)

    def stop(self) -> None:
        self.monitor.stop()
        self.worker.stop()
        self.http.close()
        self.db.close()
        for fn in self.on_stop:
            fn()
