"""A recording HTTP server on 127.0.0.1 for webhook and WebSub tests.

Every request is kept (method, path, headers, body). Answers are scripted: ``script`` is a
list of ``Answer`` consumed one per request (then ``default``), so a test can say "429 with
Retry-After: 1, then 503, then 200". ``delay`` holds every answer back, to catch a process
while its request is in flight; ``arrived`` is set as soon as a request has been read.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes | str = b"ok"
    headers: dict[str, str] = field(default_factory=dict)

    def data(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


class FakeHTTP:
    """A running server (context manager); ``url`` is its base URL."""

    def __init__(self, script: list[Answer] | None = None, default: Answer | None = None, delay: float = 0.0) -> None:
        self.script = list(script or [])
        self.default = default or Answer()
        self.delay = delay
        self.requests: list[Request] = []
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHTTP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                answer = fake._next(request)
                fake.arrived.set()
                if fake.delay:
                    threading.Event().wait(fake.delay)
                data = answer.data()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        return Handler
