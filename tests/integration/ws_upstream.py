"""WebSocket upstreams on 127.0.0.1 for the proxy tests, each in its own thread.

WsUpstream(mode) is a Python `websockets` server with its own asyncio loop in a background
thread. Every connection (and every refused upgrade) leaves a ConnRecord: the request target,
the request headers exactly as received, the offered and the chosen subprotocols, the messages,
the data frames as they arrived (opcode, FIN, length: fragmentation is visible), the payloads of
the pings it answered, and how the connection ended (close frames received and sent, in which
order). Records are keyed by the `id` query parameter of the request target (else the whole
target), so tests sharing one upstream find their own connection.

Modes:
  "echo"  sends every message back with its type (text stays text, binary stays binary);
  "sink"  waits `stall` seconds before the first read, then reads every message (sleeping
          `delay` seconds after each), counting bytes and hashing them (SHA-256, in order).
In both modes, a text message starting with CMD is a command instead of data:
  CMD + "close CODE REASON"  the upstream closes with that code and reason (REASON may be empty);
  CMD + "drop"               the upstream resets the TCP connection (RST, no close frame);
  CMD + "eof"                the upstream closes TCP (FIN, no close frame).
A request whose target has `refuse=STATUS` in its query is refused with that HTTP status; one
with `hello=TEXT` gets TEXT as a text message at once, before the upstream reads anything.

Pings are answered automatically by `websockets` with the same payload; the upstream sends no
pings of its own. `rcvbuf` sets SO_RCVBUF on its sockets. `subprotocols` is the upstream's list in order of preference: it selects the
first of them that the client offered, or none.

RawHttpUpstream(response) is a plain TCP server that reads a request head, answers `response`
(bytes, anything at all), then holds the connection until the peer closes it: an upstream that
does not speak WebSocket."""

import asyncio
import hashlib
import http
import socket
import struct
import threading
import time
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.exceptions import ConnectionClosed
from websockets.legacy.server import WebSocketServerProtocol

CMD = "!cmd "
MiB = 1 << 20


class ConnRecord:
    """What the upstream saw of one connection; fields are written by the upstream's thread."""

    def __init__(self, path, headers):
        self.path = path
        self.headers = [(k.lower(), v) for k, v in headers]  # in arrival order
        self.offered = []  # subprotocols offered, in order, from every Sec-WebSocket-Protocol
        for v in self.all("sec-websocket-protocol"):
            self.offered += [p.strip() for p in v.split(",") if p.strip()]
        self.refused = None  # HTTP status if the upgrade was refused
        self.subprotocol = None
        self.messages = []  # (type, payload) for payloads up to 64 KiB, (type, len, sha256) above
        self.frames = []  # data frames as read: (opcode, fin, payload length)
        self.pings = []  # payloads of the pings answered
        self.bytes = 0  # sink: payload bytes read
        self.sha = hashlib.sha256()  # sink: digest of every payload in order
        self.read_started = None  # sink: time.monotonic() when the stall ended
        self.close_rcvd = None  # (code, reason) of the close frame received, None if none
        self.close_sent = None  # (code, reason) of the close frame sent, None if none
        self.close_rcvd_then_sent = None  # True: the peer closed first
        self.opened = threading.Event()
        self.ended = threading.Event()

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def header(self, name):
        """The single value of header `name`, None if absent; asserts it is not repeated."""
        vals = self.all(name)
        assert len(vals) <= 1, f"{name} repeated upstream: {vals}"
        return vals[0] if vals else None

    def wait_ended(self, timeout=5.0):
        assert self.ended.wait(timeout), (
            f"the upstream connection {self.path!r} did not end within {timeout} s")
        return self

    def _add_message(self, msg):
        kind = "text" if isinstance(msg, str) else "binary"
        data = msg.encode() if isinstance(msg, str) else msg
        if len(data) <= 65536:
            self.messages.append((kind, msg))
        else:
            self.messages.append((kind, len(data), hashlib.sha256(data).hexdigest()))


class _Protocol(WebSocketServerProtocol):
    upstream = None  # set on the per-upstream subclass

    async def process_request(self, path, request_headers):
        rec = ConnRecord(path, request_headers.raw_items())
        self.record = rec
        self.upstream._add(rec)
        refuse = parse_qs(urlsplit(path).query).get("refuse")
        if refuse:
            rec.refused = int(refuse[0])
            rec.ended.set()
            return (http.HTTPStatus(rec.refused), [("Content-Type", "text/plain"), ("X-Refused-By", "upstream")],
                    b"refused by the upstream\n")
        return None

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        if frame.opcode in (0, 1, 2):
            self.record.frames.append((int(frame.opcode), frame.fin, len(frame.data)))
        return frame

    async def pong(self, data=b""):
        # Called by websockets only to answer a ping (this upstream never pongs on its own).
        self.record.pings.append(bytes(data))
        await super().pong(data)


class WsUpstream:
    def __init__(self, mode="echo", subprotocols=(), stall=0.0, delay=0.0, max_size=64 * MiB,
                 rcvbuf=None):
        assert mode in ("echo", "sink")
        self.rcvbuf = rcvbuf
        self.mode = mode
        self.subprotocols = list(subprotocols)
        self.stall = stall
        self.delay = delay
        self.max_size = max_size
        self.records = {}
        self.order = []
        self.cond = threading.Condition()
        self.errors = []  # unexpected exceptions in handlers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    # --- records ---

    def _add(self, rec):
        q = parse_qs(urlsplit(rec.path).query).get("id")
        key = q[0] if q else rec.path
        with self.cond:
            self.records[key] = rec
            self.order.append(rec)
            self.cond.notify_all()

    def wait_conn(self, key, timeout=5.0):
        """The record of the request whose `id` (or target) is `key`, waiting for it."""
        with self.cond:
            ok = self.cond.wait_for(lambda: key in self.records, timeout)
            assert ok, f"the upstream never saw a request for {key!r} within {timeout} s"
            return self.records[key]

    def count(self):
        with self.cond:
            return len(self.order)

    # --- server ---

    def _select(self, offered, available):
        for p in available:  # the upstream's preference decides
            if p in offered:
                return p
        return None

    async def _start(self):
        proto = type("UpstreamProtocol", (_Protocol,), {"upstream": self})
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.rcvbuf:  # inherited by accepted sockets: the kernel buffers little for us
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        lsock.bind(("127.0.0.1", 0))
        return await websockets.serve(
            self._handler, sock=lsock, create_protocol=proto,
            subprotocols=self.subprotocols or None, select_subprotocol=self._select,
            compression=None, ping_interval=None, max_size=self.max_size, max_queue=1,
            close_timeout=2)

    async def _handler(self, ws):
        rec = ws.record
        rec.subprotocol = ws.subprotocol
        rec.opened.set()
        try:
            hello = parse_qs(urlsplit(rec.path).query).get("hello")
            if hello:
                await ws.send(hello[0])
            if self.mode == "sink" and self.stall:
                await asyncio.sleep(self.stall)
            rec.read_started = time.monotonic()
            async for msg in ws:
                if isinstance(msg, str) and msg.startswith(CMD):
                    rec._add_message(msg)
                    await self._command(ws, msg[len(CMD):])
                    continue
                if self.mode == "echo":
                    rec._add_message(msg)
                    await ws.send(msg)
                else:
                    data = msg.encode() if isinstance(msg, str) else msg
                    rec.bytes += len(data)
                    rec.sha.update(data)
                    if self.delay:
                        await asyncio.sleep(self.delay)
        except ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - reported to the test through `errors`
            self.errors.append(repr(e))
            raise
        finally:
            await asyncio.sleep(0)
            if ws.close_rcvd is not None:
                rec.close_rcvd = (ws.close_rcvd.code, ws.close_rcvd.reason)
            if ws.close_sent is not None:
                rec.close_sent = (ws.close_sent.code, ws.close_sent.reason)
            rec.close_rcvd_then_sent = ws.close_rcvd_then_sent
            rec.ended.set()

    async def _command(self, ws, cmd):
        verb, _, rest = cmd.partition(" ")
        if verb == "close":
            code, _, reason = rest.partition(" ")
            await ws.close(int(code), reason)
        elif verb == "drop":
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()
        elif verb == "eof":
            ws.transport.close()
        else:
            raise ValueError(f"unknown command {cmd!r}")

    def close(self):
        async def stop():
            self.server.close()
            try:
                await asyncio.wait_for(self.server.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass
        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class RawHttpUpstream:
    """Reads a request head, writes `response`, holds the connection until the peer closes."""

    def __init__(self, response):
        self.response = response
        self.requests = []  # the request heads received
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(0.2)
            head = b""
            deadline = time.monotonic() + 5
            while b"\r\n\r\n" not in head and time.monotonic() < deadline:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                head += data
            with self.lock:
                self.requests.append(head)
            conn.sendall(self.response)
            while not self.stop.is_set():  # hold until the peer closes (or teardown)
                try:
                    if not conn.recv(65536):
                        return
                except socket.timeout:
                    continue
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
