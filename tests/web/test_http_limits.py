"""What the server of `publish serve` answers to requests no browser sends, over real sockets.

Long paths are 404, an over-long request line 414, a malformed one 400, and a client that
stays silent is disconnected after the handler's timeout. None of it is ever a 500.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import pytest
import requests
from test_web_app import configure

from pipeline.web.endpoint import REQUEST_TIMEOUT, create_app, make_server


@contextmanager
def server_with(config, timeout: float = REQUEST_TIMEOUT):
    """The app under make_server on a free port of 127.0.0.1; yields (host, port)."""
    server = make_server(create_app(config), "127.0.0.1", 0, timeout=timeout)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def address(example, smtp_server):
    with server_with(configure(example, smtp_server.port), timeout=0.5) as where:
        yield where


def exchange(where: tuple[str, int], data: bytes, wait: float = 10) -> bytes:
    """Send ``data``, then read until the server closes; what it sent back."""
    with socket.create_connection(where, timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def status_of(answer: bytes) -> int:
    first = answer.split(b"\r\n", 1)[0].split()
    assert first[:1] == [b"HTTP/1.0"], answer[:200]
    return int(first[1])


def get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    "path",
    [
        b"/" + b"a" * 5000,
        b"/issues/" + b"b" * 300,  # one name longer than any file system allows
        b"/issues/" + b"c/" * 2100,  # many short names, longer than a path may be
        b"/" + "论文".encode() * 200,
        b"/%E4%B8%AD" * 600,
    ],
)
def test_long_paths_are_not_found(address, path):
    answer = exchange(address, get(path))
    assert status_of(answer) == 404 and "页面不存在" in answer.decode("utf-8")


def test_an_over_long_request_line_is_414_and_a_malformed_one_400(address):
    assert status_of(exchange(address, get(b"/" + b"a" * 70_000))) == 414
    assert status_of(exchange(address, get(b"/unsubscribe?email=" + b"x" * 70_000))) == 414
    for line in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.x\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"PUT /x\r\n\r\n"):
        assert status_of(exchange(address, line)) == 400, line
    assert status_of(exchange(address, get(b"/healthz"))) == 200  # the server is still there


@pytest.mark.parametrize(
    "path",
    [
        b"/unsubscribe?email=a%40example.org&token=%E4%B8%AD",
        b"/confirm?email=a%40example.org&expires=99999999999&token=%E4%B8%AD",
        b"/confirm?email=a%40example.org&expires=" + b"9" * 5000 + b"&token=x",
    ],
)
def test_odd_tokens_are_refused_not_an_error(address, path):
    assert status_of(exchange(address, get(path))) == 403


@pytest.mark.parametrize("sent", [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_a_silent_client_is_disconnected_after_the_timeout(address, sent):
    started = time.monotonic()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(sent)
        assert sock.recv(1024) == b""  # closed by the server, nothing said
    assert time.monotonic() - started < 5


def test_a_body_that_never_comes_is_answered_408(address):
    head = b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    answer = exchange(address, head + b"Content-Length: 200\r\n\r\nemail=a")
    assert status_of(answer) == 408


def test_silent_clients_do_not_stop_others_and_the_default_timeout_is_finite(example, smtp_server):
    config = configure(example, smtp_server.port)
    default = make_server(create_app(config), "127.0.0.1", 0)
    default.server_close()
    assert default.RequestHandlerClass.timeout == REQUEST_TIMEOUT
    assert 0 < REQUEST_TIMEOUT <= 60
    with server_with(config, timeout=0.5) as where:
        idle = [socket.create_connection(where, timeout=10) for _ in range(5)]
        try:
            assert requests.get(f"http://{where[0]}:{where[1]}/healthz", timeout=5).text == "ok\n"
            assert all(sock.recv(1) == b"" for sock in idle)
        finally:
            for sock in idle:
                sock.close()
