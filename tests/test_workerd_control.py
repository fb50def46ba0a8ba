"""The workerd target's control client (harness/targets/runtime/workerd_control.py)
against a scripted HTTP/1.1 peer on loopback: framing, keep-alive, and the connection
given up when the peer closes it or an answer is left unread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from harness.targets.runtime.workerd_control import ControlClient, ControlError

Script = Callable[[socket.socket, int], bool]  # (connection, request number) -> keep it open


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            while len(body) < int(line.split(b":")[1]):
                body += conn.recv(65536)
    return head


class Peer:
    """A loopback server answering each request by script; counts connections."""

    def __init__(self, script: Script) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.script = script
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while read_request(conn):
                    self.requests += 1
                    if not self.script(conn, self.requests):
                        break

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def peer_factory() -> Iterator[Callable[[Script], Peer]]:
    peers: list[Peer] = []

    def make(script: Script) -> Peer:
        peers.append(Peer(script))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def length_answer(conn: socket.socket, n: int) -> bool:
    body = f'{{"n": {n}}}'.encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return True


def test_keep_alive_reuses_one_connection(peer_factory: Callable[[Script], Peer]) -> None:
    peer = peer_factory(length_answer)
    client = ControlClient("127.0.0.1", peer.port)
    assert [client.request("POST", "/x", b"{}", 2) for _ in range(3)] == [
        (200, b'{"n": 1}'), (200, b'{"n": 2}'), (200, b'{"n": 3}')]
    assert peer.connections == 1
    client.close()


def test_connection_closed_by_peer_is_replaced(peer_factory: Callable[[Script], Peer]) -> None:
    def once(conn: socket.socket, n: int) -> bool:
        length_answer(conn, n)
        return False  # then close, as a restarted or idle-timed-out peer would

    peer = peer_factory(once)
    client = ControlClient("127.0.0.1", peer.port)
    assert client.request("GET", "/a", b"", 2)[0] == 200
    threading.Event().wait(0.05)  # the peer's close has arrived
    assert client.request("GET", "/b", b"", 2)[0] == 200
    assert peer.connections == 2
    client.close()


def test_chunked_stream_lines_and_duplex_end(peer_factory: Callable[[Script], Peer]) -> None:
    def streamed(conn: socket.socket, n: int) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"7\r\n{\"a\":1}\r\n3\r\n\n{\"\r\n")
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):  # the client ends its body: the second line
            rest += conn.recv(65536)
        assert b"finish\n" in rest
        conn.sendall(b"6\r\nb\":2}\n\r\n0\r\n\r\n")
        return True

    peer = peer_factory(streamed)
    client = ControlClient("127.0.0.1", peer.port)
    with client.stream("/s", b"first\n", 2) as answer:
        assert answer.status == 200
        assert answer.next_line() == b'{"a":1}'
        answer.end(b"finish\n")
        assert answer.next_line() == b'{"b":2}'
    assert answer.next_line() is None
    assert peer.connections == 1


def test_bad_answer_is_an_oserror(peer_factory: Callable[[Script], Peer]) -> None:
    def garbage(conn: socket.socket, n: int) -> bool:
        conn.sendall(b"SPDY nonsense\r\n\r\n")
        return False

    client = ControlClient("127.0.0.1", peer_factory(garbage).port)
    with pytest.raises(ControlError, match="bad status line"):
        client.request("GET", "/", b"", 2)


def test_timeout_is_timeouterror(peer_factory: Callable[[Script], Peer]) -> None:
    client = ControlClient("127.0.0.1", peer_factory(lambda conn, n: threading.Event().wait(1.0)).port)
    with pytest.raises(TimeoutError):
        client.request("GET", "/", b"", 0.2)
