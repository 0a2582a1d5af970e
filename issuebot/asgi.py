"""The ASGI app `issuebot serve` runs: deliveries answered on the event loop, the web pages through Flask."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from a2wsgi import WSGIMiddleware

from issuebot.app import create_app
from issuebot.config import load_program
from issuebot.service import Service, open_service
from issuebot.store import NewDelivery, StoreUnavailable
from issuebot.webhooks import Answer, hand_to_queue, stored, triage

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HOOKS = "/hooks/"
JSON_HEADERS = [(b"content-type", b"application/json")]
CONFIG_ENV = "ISSUEBOT_CONFIG"  # the program file, for server processes started by `issuebot serve`
INSECURE_ENV = "ISSUEBOT_INSECURE_NO_VERIFY"
THREADS_ENV = "ISSUEBOT_WEB_THREADS"
LOG_LEVEL_ENV = "ISSUEBOT_LOG_LEVEL"  # the level `issuebot -v serve` logs at, for the server processes


class RequestHeaders(Mapping[str, str]):
    """An ASGI request's headers, read by name whatever its case (the parsers' Mapping)."""

    __slots__ = ("_values",)

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        # ASGI names are lower-case already; a repeated header keeps its first value.
        values: dict[str, str] = {}
        for name, value in raw:
            values.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class InboxWriter:
    """One thread per server process that commits every waiting delivery in one transaction, wakes the
    worker, then answers their requests: one durable write per burst, not one per delivery."""

    _STOP = object()
    RETRY_SECONDS = 1.0  # while the queue is down, how often the rows it did not take are offered again

    def __init__(self, service: Service):
        self.service = service
        self._waiting: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._unqueued: list[tuple[int, str]] = []  # stored rows the queue did not take: handed over once it is back
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
        self._thread.start()

    async def store(self, delivery: NewDelivery) -> int | StoreUnavailable | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int | StoreUnavailable | None] = loop.create_future()
        self._waiting.put((delivery, done, loop))
        return await done

    def close(self) -> None:
        """Commit what is waiting, then stop the thread."""
        self._waiting.put(self._STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                first = self._waiting.get(timeout=self.RETRY_SECONDS if self._unqueued else None)
            except queue.Empty:
                first = None
            stopping = first is self._STOP
            batch = [] if first is None or stopping else [first]
            while True:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is self._STOP:
                    stopping = True
                else:
                    batch.append(item)
            if batch:
                self._commit(batch)
            if self._unqueued and (stopping or time.monotonic() >= self._retry_at):
                self._hand_over(self._unqueued)
            if stopping:
                return

    def _hand_over(self, rows: list[tuple[int, str]]) -> None:
        """Queue `rows`; while the queue is down, keep them and offer them again a second later."""
        had = bool(self._unqueued)
        self._unqueued = hand_to_queue(self.service, rows, again=had)
        if self._unqueued:
            self._retry_at = time.monotonic() + self.RETRY_SECONDS
        elif had:
            logger.warning("the queue answers again: every stored delivery is queued")

    def _commit(self, batch: list[tuple[NewDelivery, asyncio.Future[Any], asyncio.AbstractEventLoop]]) -> None:
        service = self.service
        results: list[int | StoreUnavailable | None]
        try:
            results = list(service.store.add_deliveries([delivery for delivery, _, _ in batch], now=service.clock(),
                                                        lease_seconds=service.program.service.lease_seconds))
        except StoreUnavailable as exc:
            results = [exc] * len(batch)
        except Exception as exc:  # never leave a request waiting on a future nobody resolves
            logger.exception("inbox write failed")
            results = [StoreUnavailable(f"inbox write failed: {exc.__class__.__name__}")] * len(batch)
        fresh = [(row, delivery.project) for (delivery, _, _), row in zip(batch, results) if isinstance(row, int)]
        # Woken before answering, as the Flask endpoint does: a 202 means stored and handed over (or,
        # while the queue is down, stored and offered again every second until it answers).
        if self._unqueued:
            self._unqueued += fresh
        else:
            self._hand_over(fresh)
        answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for (_, done, loop), result in zip(batch, results):
            answers.setdefault(loop, []).append((done, result))
        for loop, waiting in answers.items():  # one wake-up of the event loop per burst
            loop.call_soon_threadsafe(_resolve, waiting)


def _resolve(waiting: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for done, result in waiting:
        if not done.cancelled():  # the client went away: its row is stored all the same
            done.set_result(result)


class WebApp:
    """Routes POST /hooks/<provider> to the event-loop path and every other request to Flask."""

    def __init__(self, service: Service, *, threads: int = 16):
        self.service = service
        self.flask = create_app(service)
        self.pages: Any = WSGIMiddleware(self.flask, workers=threads)  # type: ignore[arg-type]
        self._writer: InboxWriter | None = None

    @property
    def writer(self) -> InboxWriter:
        if self._writer is None:
            self._writer = InboxWriter(self.service)
        return self._writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http" and scope["method"] == "POST" and scope["path"].startswith(HOOKS):
            await self._delivery(scope, receive, send)
        else:
            await self.pages(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _ = self.writer
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Requests in flight have their answers by now (the server waited for them);
                # whatever is still waiting is committed before the process ends.
                if self._writer is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self._writer.close)
                self.service.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _delivery(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = scope["path"][len(HOOKS):]
        headers = RequestHeaders(scope["headers"])
        length = _content_length(headers)
        limit = self.service.program.service.max_body_bytes
        body = None if length is not None and length > limit else await _read_body(receive, limit)
        verdict = triage(self.service, provider, headers, body, length)
        if isinstance(verdict, NewDelivery):
            verdict = stored(self.service, verdict, await self.writer.store(verdict))
        await _send(send, verdict)


def _content_length(headers: RequestHeaders) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it grows past `limit` (a chunked body has no length to check)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send: Send, answer: Answer) -> None:
    body = answer.body()
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": answer.code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def app_from_environment() -> WebApp:
    """The app for the program file in $ISSUEBOT_CONFIG: what each `issuebot serve` process builds."""
    # A server process is started afresh, not forked: it logs as the `issuebot` command does (cli.main).
    level = os.environ.get(LOG_LEVEL_ENV, "")
    logging.basicConfig(level=int(level) if level.isdigit() else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    program = load_program(os.environ[CONFIG_ENV])
    service = open_service(program, insecure_no_verify=os.environ.get(INSECURE_ENV) == "1", need_queue=False)
    app = WebApp(service, threads=int(os.environ.get(THREADS_ENV, "16")))
    # What start-up built lives as long as the process: out of the collector's sight, a full collection
    # walks only what requests made (with it in sight, one took tens of milliseconds: the p99 of a burst).
    gc.collect()
    gc.freeze()
    return app
