"""The dashboard's web application (Starlette): pages and their fragments rendered
from the API through the SDK, and ``/plans/{plan}/live``, a Server-Sent Events
stream fed by ``WatchService``, on which the page's fragments refresh themselves
(htmx, ``static/live.js``).

Routes: ``/`` every plan's overview; ``/plans/{plan}`` one plan — overview, red
flags with their reasons, the dependency graph with its bottlenecks, the ranking
with each score's parts, the reports owed (REPORT_MISSING); ``/plans/{plan}/part/{name}``
one of those sections (what htmx fetches); ``/healthz``. ``?as_of=YYYY-MM-DD`` judges
a page on that day (default: the setting, else today).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboard import data
from dashboard.settings import DashboardSettings
from lienthong_sdk import CoordinationClient, Identity, LienthongError

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PARTS = ("overview", "graph", "flags", "ranking", "missing")
AGENT = "dashboard"  # the dashboard reviews nothing: its agency id is never sent
HEARTBEAT_SECONDS = 15.0


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["summarise"] = data.flag_summary
    env.globals["owed_by_unit"] = data.owed_by_unit
    return env


class Dashboard:
    """The application's state: one SDK client (its channel shared by every request)."""

    def __init__(
        self, settings: DashboardSettings, client: CoordinationClient | None = None
    ) -> None:
        self.settings = settings
        if client is None:
            identity = Identity.from_files(settings.certificate, settings.key, settings.authority)
            client = CoordinationClient(settings.api, AGENT, identity=identity)
        self.client = client
        self.env = templates()

    def as_of(self, request: Request) -> date | None:
        text = request.query_params.get("as_of") or self.settings.as_of
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise LienthongError(
                "INVALID_ARGUMENT",
                f"as_of: {text!r} is not a day YYYY-MM-DD",
                reason="INVALID_VALUE",
            ) from None

    async def read(self, fetch: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fetch, self.client, *args)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**values)
        return HTMLResponse(html, status_code=status)

    async def part(self, name: str, plan_id: str, as_of: date | None) -> dict[str, Any]:
        fetch = {
            "overview": data.plan_card,
            "flags": data.red_flags,
            "graph": data.dependencies,
            "ranking": data.ranking,
            "missing": data.missing_reports,
        }[name]
        return {name: await self.read(fetch, plan_id, as_of)}

    # Routes -----------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        try:
            as_of = self.as_of(request)
            cards = await self.read(data.plan_cards, as_of)
        except LienthongError as error:
            return self.refused(error)
        return self.render("index.html", cards=cards, as_of=as_of)

    async def plan(self, request: Request) -> Response:
        plan_id = request.path_params["plan"]
        try:
            as_of = self.as_of(request)
            # The graph first: the log position it covers is where the live stream
            # starts, so nothing recorded while the other parts are read is missed.
            values: dict[str, Any] = await self.part("graph", plan_id, as_of)
            rest = [self.part(name, plan_id, as_of) for name in PARTS if name != "graph"]
            for part in await asyncio.gather(*rest):
                values |= part
        except LienthongError as error:
            return self.refused(error)
        return self.render("plan.html", plan_id=plan_id, as_of=as_of, parts=PARTS, **values)

    async def fragment(self, request: Request) -> Response:
        plan_id, name = request.path_params["plan"], request.path_params["name"]
        if name not in PARTS:
            return self.render("error.html", 404, code="NOT_FOUND", message=name)
        try:
            as_of = self.as_of(request)
            values = await self.part(name, plan_id, as_of)
        except LienthongError as error:
            return self.refused(error)
        return self.render(f"_{name}.html", plan_id=plan_id, as_of=as_of, **values)

    def refused(self, error: LienthongError) -> Response:
        status = {"NOT_FOUND": 404, "INVALID_ARGUMENT": 400}.get(error.code, 502)
        return self.render(
            "error.html", status, code=error.reason or error.code, message=error.message
        )

    async def live(self, request: Request) -> Response:
        """Server-Sent Events: ``change`` for every event recorded on the plan (its
        position, subject and topic), as WatchService streams them — from ``?from=N``
        (the position the page was read at, + 1) or after the last one a reconnecting
        browser saw (``Last-Event-ID``), else from now."""
        plan_id, start = request.path_params["plan"], request.query_params.get("from", "")
        seen = request.headers.get("last-event-id", "")  # a reconnecting EventSource
        first = max(int(start) if start.isdigit() else 0, int(seen) + 1 if seen.isdigit() else 0)
        return StreamingResponse(
            self.events(request, plan_id, first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def events(self, request: Request, plan_id: str, start: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        watch = self.client.watch(plan_id=plan_id, from_position=start)

        def follow() -> None:
            try:
                for message in watch:
                    event = MessageToDict(message.event, preserving_proto_field_name=True)
                    change = {
                        "position": int(event.get("position", 0)),
                        "subject": event.get("subject", ""),
                        "topic": event.get("topic", ""),
                        "actor": event.get("actor", ""),
                    }
                    loop.call_soon_threadsafe(queue.put_nowait, change)
            except LienthongError as error:
                log.warning("the watch of %s ended: %s", plan_id, error)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is closed at shutdown
                    loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=follow, name=f"watch-{plan_id}", daemon=True).start()
        try:
            yield "event: ready\ndata: {}\n\n"
            while not await request.is_disconnected():
                try:
                    change = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if change is None:
                    return
                data = json.dumps(change, ensure_ascii=False)
                yield f"id: {change['position']}\nevent: change\ndata: {data}\n\n"
        finally:
            watch.cancel()

    async def health(self, _: Request) -> Response:
        return JSONResponse({"status": "ok"})


def create_app(settings: DashboardSettings, client: CoordinationClient | None = None) -> Starlette:
    dashboard = Dashboard(settings, client)
    routes = [
        Route("/", dashboard.index),
        Route("/healthz", dashboard.health),
        Route("/plans/{plan}", dashboard.plan),
        Route("/plans/{plan}/part/{name}", dashboard.fragment),
        Route("/plans/{plan}/live", dashboard.live),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.dashboard = dashboard
    return app


def serve(settings: DashboardSettings) -> None:
    """Serve the dashboard until SIGINT/SIGTERM."""
    import uvicorn  # noqa: PLC0415 - the server's import, not the application's

    from dashboard.settings import split_address  # noqa: PLC0415

    host, port = split_address(settings.address)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2
    )
    try:
        uvicorn.Server(config).run()
    finally:
        app.state.dashboard.client.close()
