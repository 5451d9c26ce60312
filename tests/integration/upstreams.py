"""HTTP/1.1 upstream servers on 127.0.0.1 for proxy tests, written on raw sockets (one thread per
connection) so that a test controls the framing of every response byte.

HttpUpstream(handler) listens on a free port and serves persistent (keep-alive) connections: it
reads a request head, records it as a `Request` (method, target, version, headers as received,
connection number, the peer's port, the request's index on its connection), calls
`handler(ex)` with an `Exchange`, drains whatever request body the handler left unread, and
waits for the next request on the same connection, until the client closes, the request asks
for `Connection: close` (or is HTTP/1.0 without keep-alive), or the handler returns False.

Handlers here:
  echo       reads the body (SHA-256 and length, streaming) and answers 200 with a JSON body
             describing the request it received (`Request.as_dict()`);
  download   answers `?size=N&framing=length|chunked|close` with N bytes of `pattern()` data
             framed by Content-Length, chunked, or HTTP/1.0-style until the connection closes.
A test passes its own function for anything else (an upstream that stalls, closes, sends
garbage...). `StreamReader` and `iter_body` are shared with the test clients so that 100 MB
bodies are read in bounded memory on both sides."""

import hashlib
import json
import random
import socket
import threading
import urllib.parse

IO_TIMEOUT = 10.0  # every socket operation of an upstream connection

_PATTERN_BLOCK = random.Random(20240607).randbytes((1 << 20) + 8192)
PATTERN_CHUNK = 1 << 20


def pattern(total, chunk=PATTERN_CHUNK):
    """Deterministic data: `total` bytes as pieces of up to `chunk` bytes. Every MiB carries its
    index and starts at a different offset of a random block, so reordered, repeated or lost
    pieces change the digest."""
    i = 0
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        off = (i * 4099) % 8192
        piece = i.to_bytes(8, "little") + _PATTERN_BLOCK[off + 8:off + n]
        yield piece[:n]
        sent += n
        i += 1


_digests = {}


def pattern_sha256(total):
    if total not in _digests:
        h = hashlib.sha256()
        for piece in pattern(total):
            h.update(piece)
        _digests[total] = h.hexdigest()
    return _digests[total]


class StreamReader:
    """Buffered reads on a blocking socket; EOF raises EOFError. `read_some` hands out what is
    buffered (at most n bytes) without ever holding more than one recv's worth."""

    def __init__(self, sock, bufsize=1 << 20):
        self.sock = sock
        self.bufsize = bufsize
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(self.bufsize)
        if not data:
            raise EOFError("connection closed by the peer")
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                end = i + len(sep)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit:
                raise ValueError(f"no {sep!r} within {limit} bytes")
            start = max(0, len(self.buf) - len(sep) + 1)
            self._fill()

    def read_some(self, n):
        if not self.buf:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_to_eof(self):
        """Pieces until the peer closes (a reset counts as a close)."""
        if self.buf:
            out = bytes(self.buf)
            self.buf.clear()
            yield out
        while True:
            try:
                data = self.sock.recv(self.bufsize)
            except ConnectionResetError:
                return
            if not data:
                return
            yield data


def parse_headers(lines):
    out = []
    for line in lines:
        if not line:
            continue
        k, _, v = line.partition(":")
        out.append((k.strip(), v.strip()))
    return out


def header_values(headers, name):
    """Every value of `name` (case-insensitive) in a list of (name, value), in order."""
    return [v for k, v in headers if k.lower() == name.lower()]


def header_joined(headers, name):
    """The field's combined value (RFC 9110 5.3: repeated lines are one comma-separated list)."""
    vals = header_values(headers, name)
    return ", ".join(vals) if vals else None


def has_token(headers, name, token):
    v = header_joined(headers, name) or ""
    return token.lower() in [t.strip().lower() for t in v.split(",")]


def iter_body(sr, headers, until_eof=False):
    """The body pieces of a message with `headers` read from StreamReader `sr`: chunked,
    Content-Length, or (if `until_eof`, for a response without either) until the peer closes."""
    if has_token(headers, "transfer-encoding", "chunked"):
        while True:
            line = sr.read_until(b"\r\n", limit=4096)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while sr.read_until(b"\r\n", limit=65536) != b"\r\n":
                    pass  # trailer fields
                return
            left = size
            while left:
                piece = sr.read_some(left)
                left -= len(piece)
                yield piece
            crlf = sr.read_exact(2)
            if crlf != b"\r\n":
                raise ValueError(f"chunk of {size} bytes not followed by CRLF: {crlf!r}")
        return
    cl = header_values(headers, "content-length")
    if cl:
        left = int(cl[0])
        while left:
            piece = sr.read_some(left)
            left -= len(piece)
            yield piece
        return
    if until_eof:
        yield from sr.read_to_eof()


class Request:
    def __init__(self, method, target, version, headers, conn, peer_port, seq):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # [(name, value)] exactly as received
        self.conn = conn  # 0-based number of the upstream connection it came on
        self.peer_port = peer_port
        self.seq = seq  # 0-based index of this request on its connection
        self.body_len = None  # set once the body is read
        self.body_sha256 = None
        self.body = None  # kept only when small

    def header(self, name):
        return header_joined(self.headers, name)

    @property
    def path(self):
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    def as_dict(self):
        return {"method": self.method, "target": self.target, "version": self.version,
                "headers": [list(h) for h in self.headers], "conn": self.conn,
                "peer_port": self.peer_port, "seq": self.seq, "body_len": self.body_len,
                "body_sha256": self.body_sha256}

    def __repr__(self):
        return (f"<Request {self.method} {self.target} {self.version} conn={self.conn} "
                f"seq={self.seq} port={self.peer_port}>")


class Exchange:
    """One request on one upstream connection, as a handler sees it."""

    KEEP_BODY = 1 << 20

    def __init__(self, upstream, conn, sr, req):
        self.upstream = upstream
        self.conn = conn
        self.sr = sr
        self.req = req
        self.body_done = False
        self.closed = False

    def read_body(self):
        if self.body_done:
            return
        h = hashlib.sha256()
        n = 0
        kept = bytearray()
        for piece in iter_body(self.sr, self.req.headers):
            h.update(piece)
            n += len(piece)
            if n <= self.KEEP_BODY:
                kept += piece
        self.req.body_len = n
        self.req.body_sha256 = h.hexdigest()
        self.req.body = bytes(kept) if n <= self.KEEP_BODY else None
        self.body_done = True

    def send(self, data):
        self.conn.sendall(data)
        with self.upstream.cond:
            self.upstream.sent += len(data)

    def respond(self, status=200, headers=(), body=b"", reason=None, length=True):
        reason = reason or {200: "OK", 204: "No Content", 304: "Not Modified",
                            404: "Not Found"}.get(status, "Whatever")
        head = f"HTTP/1.1 {status} {reason}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers)
        if length:
            head += f"Content-Length: {len(body)}\r\n"
        self.send(head.encode("latin-1") + b"\r\n" + body)

    def close(self):
        self.closed = True
        try:
            self.conn.close()
        except OSError:
            pass


class HttpUpstream:
    def __init__(self, handler, name="up", rcvbuf=None, sndbuf=None):
        """`rcvbuf` / `sndbuf` fix the socket buffers of every accepted connection (no
        autotuning), so that what the kernel can hold in flight is small and known."""
        self.handler = handler
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.sock.listen(128)
        self.cond = threading.Condition()
        self.accepted = 0
        self.requests = []  # every Request, in arrival order
        self.errors = []  # exceptions raised while serving (other than the peer going away)
        self.sent = 0  # bytes written to clients so far (all connections)
        self.conns = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with self.cond:
                n = self.accepted
                self.accepted += 1
                self.conns.append(conn)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(conn, n, peer[1]), daemon=True).start()

    def _serve(self, conn, n, peer_port):
        conn.settimeout(IO_TIMEOUT)
        sr = StreamReader(conn)
        seq = 0
        try:
            while not self.stop.is_set():
                # An idle keep-alive connection may wait long for its next request (a proxy's
                # pool keeps it): only a head that has begun must arrive in IO_TIMEOUT.
                conn.settimeout(None if not sr.buf else IO_TIMEOUT)
                try:
                    sr.buf or sr._fill()
                    conn.settimeout(IO_TIMEOUT)
                    head = sr.read_until(b"\r\n\r\n", limit=1 << 20)
                except EOFError:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                req = Request(method, target, version, parse_headers(lines[1:]), n, peer_port,
                              seq)
                with self.cond:
                    self.requests.append(req)
                    self.cond.notify_all()
                ex = Exchange(self, conn, sr, req)
                keep = self.handler(ex)
                if keep is False or ex.closed:
                    return
                ex.read_body()
                if has_token(req.headers, "connection", "close") or (
                        version == "HTTP/1.0" and not has_token(req.headers, "connection",
                                                                "keep-alive")):
                    return
                seq += 1
        except (OSError, EOFError) as e:
            if not self.stop.is_set() and not isinstance(e, (ConnectionError, EOFError)):
                with self.cond:
                    self.errors.append(repr(e))
        except Exception as e:  # noqa: BLE001 - a handler bug must surface in the test
            with self.cond:
                self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    # --- observation ---

    def wait_requests(self, count, timeout=10.0):
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def snapshot(self):
        with self.cond:
            return list(self.requests)

    # --- stopping ---

    def close_listener(self):
        """Stops accepting: the port refuses new connections from now on. (close() alone
        would not do: the kernel socket lives on while the accept thread is blocked in it.)"""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def close(self):
        """Stops accepting and cuts every connection it holds."""
        self.stop.set()
        self.close_listener()
        with self.cond:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------

ECHO_RESPONSE_HEADERS = [
    ("Content-Type", "application/json"),
    ("Server", "test-upstream/1.0"),
    ("Connection", "keep-alive"),
    ("Keep-Alive", "timeout=30"),
    ("Via", "1.1 upstream-cache"),
    ("X-Upstream-Reply", "yes"),
]


def close_after_drain(ex, timeout=2.0):
    """Ends the response by closing: FIN first, then whatever the peer still sends is read (so
    the close is not a reset that could discard data in flight), then the socket is closed."""
    try:
        ex.conn.shutdown(socket.SHUT_WR)
        ex.conn.settimeout(timeout)
        while ex.conn.recv(65536):
            pass
    except OSError:
        pass
    ex.close()


def echo(ex):
    ex.read_body()
    d = ex.req.as_dict()
    d["upstream"] = ex.upstream.name
    ex.respond(200, ECHO_RESPONSE_HEADERS + [("X-Upstream", ex.upstream.name)],
               json.dumps(d).encode())


def download(ex):
    q = ex.req.query
    total = int(q.get("size", "0"))
    framing = q.get("framing", "length")
    ex.read_body()
    base = "Content-Type: application/octet-stream\r\nServer: test-upstream/1.0\r\n"
    if framing == "length":
        ex.send(f"HTTP/1.1 200 OK\r\n{base}Content-Length: {total}\r\n\r\n".encode())
        for piece in pattern(total):
            ex.send(piece)
    elif framing == "chunked":
        ex.send(f"HTTP/1.1 200 OK\r\n{base}Transfer-Encoding: chunked\r\n\r\n".encode())
        # Chunks of varying sizes, none aligned with the pattern's pieces.
        sizes = (65536, 1000, 300000, 7, 524288)
        k = 0
        for piece in pattern(total):
            mv = memoryview(piece)
            while mv:
                n = min(sizes[k % len(sizes)], len(mv))
                k += 1
                ex.send(b"%x\r\n" % n + bytes(mv[:n]) + b"\r\n")
                mv = mv[n:]
        ex.send(b"0\r\n\r\n")
    elif framing == "close":
        ex.send(f"HTTP/1.0 200 OK\r\n{base}\r\n".encode())
        for piece in pattern(total):
            ex.send(piece)
        close_after_drain(ex)
        return False
    else:
        ex.respond(404, [], b"unknown framing\n")
