"""A keep-alive HTTP/1.1 server on 127.0.0.1 whose connections the test ends at will.

The real transport (gateway_core.h1_transport) talks to it over real sockets, so a test can do to the pool what a
LiteLLM restart or crash does: close idle connections (FIN, or RST), or read a request and die
before answering. Every request it reads is recorded, so a test sees exactly what was sent twice.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Received", "ScriptedUpstream"]

Ending = Literal["answer", "drop_after_reading"]


@dataclass(frozen=True)
class Received:
    connection: int  # 0 for the first connection accepted, 1 for the next...
    method: str
    path: str
    body: bytes


@dataclass
class ScriptedUpstream:
    """``next_ending``: what the server does with the next request it reads (then back to "answer");
    ``drops``: how many requests after that it reads and drops without an answer."""

    next_ending: Ending = "answer"
    drops: int = 0
    received: list[Received] = field(default_factory=list)
    _connections: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _idle: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections_accepted(self) -> int:
        return len(self._connections)

    def close_idle(self, *, reset: bool = False) -> None:
        """Close every connection waiting for its next request, as a restarting server does
        (FIN), or as a crashing one does (``reset``: RST). Returns once the peer has been told."""
        with self._lock:
            idle, self._idle = sorted(self._idle), set()
        for number in idle:
            connection = self._connections[number]
            connection.shutdown(socket.SHUT_RD)  # wakes the thread reading it, and sends nothing
            self._threads[number].join()
            if reset:  # a close with unread data or zero linger resets the connection
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()  # the last reference: the FIN (or RST) leaves now

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed
                return
            with self._lock:
                number = len(self._connections)
                self._connections.append(connection)
                thread = threading.Thread(target=self._serve, args=(connection, number), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket, number: int) -> None:
        buffer = b""
        with self._lock:
            self._idle.add(number)
        while True:
            try:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                with self._lock:
                    self._idle.discard(number)
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
                length = int(headers.get("content-length", "0"))
                while len(buffer) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                body, buffer = buffer[:length], buffer[length:]
                method, path, _ = request_line.split(" ", 2)
                self.received.append(Received(number, method, path, body))
                ending, self.next_ending = self.next_ending, "answer"
                if ending == "answer" and self.drops > 0:
                    ending, self.drops = "drop_after_reading", self.drops - 1
                if ending == "drop_after_reading":
                    connection.shutdown(socket.SHUT_RDWR)
                    connection.close()
                    return
                answer = b'{"ok":true}'
                with self._lock:  # idle from the moment the answer can reach the client
                    self._idle.add(number)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
            except OSError:  # closed under us by close_idle() or close()
                return
