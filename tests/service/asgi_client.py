"""Drives the ASGI app `issuebot serve` runs the way Flask's test client drives the Flask app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from issuebot.asgi import WebApp
from issuebot.service import Service


@dataclass
class AsgiResponse:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self.data.decode() if as_text else self.data


class AsgiClient:
    """One request at a time on a private event loop; `chunks` splits the body into that many messages."""

    def __init__(self, service: Service, *, chunks: int = 1):
        self.app = WebApp(service, threads=2)
        self.loop = asyncio.new_event_loop()
        self.chunks = chunks

    def post(self, path: str, data: bytes | str = b"", headers: Mapping[str, str] | None = None) -> AsgiResponse:
        return self.open("POST", path, data.encode() if isinstance(data, str) else data, headers or {})

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> AsgiResponse:
        return self.open("GET", path, b"", headers or {})

    def open(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> AsgiResponse:
        return self.loop.run_until_complete(self.request(method, path, body, headers))

    async def request(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> AsgiResponse:
        raw = [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in headers.items()]
        if body and not any(name == b"content-length" for name, _ in raw) and self.chunks == 1:
            raw.append((b"content-length", str(len(body)).encode()))
        path, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": raw, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
        size = max(1, -(-len(body) // self.chunks))
        parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        messages = [{"type": "http.request", "body": part, "more_body": n < len(parts) - 1} for n, part in enumerate(parts)]
        answer = AsgiResponse(0)

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer.status_code = message["status"]
                answer.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                answer.data += message.get("body", b"")

        await self.app(scope, receive, send)
        return answer

    def close(self) -> None:
        if self.app._writer is not None:
            self.app._writer.close()
        self.loop.close()
