"""Integration harness: the real wsgate binary on 127.0.0.1, driven by clients we did not write.

The `wsgate` fixture is a factory: `srv = wsgate(routes=[...], server={...}, files={...})`
writes a TOML config (and a `www` directory with `files` for static routes) into the test's tmp
dir, picks a free port, starts `$WSGATE_BIN -c cfg` with stderr captured to a file, and waits
(bounded) until the port accepts. At teardown every server still running gets SIGTERM and must
exit 0 within SHUTDOWN_WAIT seconds (else it is killed and the test fails). The server's stderr
is attached to the report of every failing test.

Also here: raw-socket helpers shared by the test files (a hand-made WebSocket handshake, frame
building and parsing, an HTTP/1.1 response reader), so protocol violations can be sent exactly.

Environment (ctest sets both): WSGATE_BIN = the wsgate binary, WSGATE_SOURCE_DIR = repo root.
"""

import asyncio
import base64
import hashlib
import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest
import websockets

WSGATE_BIN = os.environ.get("WSGATE_BIN")
SOURCE_DIR = os.environ.get("WSGATE_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

START_WAIT = 10.0  # seconds until the port must accept
SHUTDOWN_WAIT = 5.0  # seconds after SIGTERM until the process must have exited 0
IO_TIMEOUT = 5.0  # default timeout of every socket operation in the helpers
# True when the binary is a sanitizer build (set by CTest from WSGATE_SANITIZE). Such builds pad
# every allocation and keep freed memory in quarantine, so RSS budgets apply to normal builds only;
# everything else (data intact, connections held and served) is still checked.
SANITIZED = bool(os.environ.get("WSGATE_SANITIZED"))

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def run_async(coro, timeout=30):
    """Runs a client coroutine to completion, failing it after `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_connect(srv, path, **kw):
    """A Python `websockets` client connection to `path` on `srv`: no client pings (the tests
    control every frame), 32 MiB messages, bounded open and close handshakes."""
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    kw.setdefault("max_size", 32 << 20)
    return websockets.connect(srv.ws_url(path), **kw)


def _require_binary():
    if not WSGATE_BIN or not os.access(WSGATE_BIN, os.X_OK):
        raise RuntimeError("set WSGATE_BIN to the wsgate binary (ctest does)")
    return WSGATE_BIN


# ---------------------------------------------------------------------------------------------
# Config writing
# ---------------------------------------------------------------------------------------------


def toml_value(v):
    """A Python value as TOML: str, bool, int, float, a list of them, or a dict (inline table)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {v!r}")


def toml_key(k):
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else toml_value(k)


def make_config(port, routes, server=None, listen_extra=None, upstreams=None):
    """TOML text: [server] (workers = 2 unless given), one [[listen]] on 127.0.0.1:port, routes.

    shutdown_timeout defaults to 3 s here (not 10 s) so that a connection a failing test leaves
    stuck cannot by itself push the exit past SHUTDOWN_WAIT."""
    srv = {"workers": 2, "log_level": "info", "shutdown_timeout": "3s"}
    srv.update(server or {})
    lines = ["[server]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in srv.items()]
    lines += ["", "[[listen]]", f'address = "127.0.0.1:{port}"']
    lines += [f"{k} = {toml_value(v)}" for k, v in (listen_extra or {}).items()]
    for r in routes:
        lines += ["", "[[route]]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in r.items()]
    for name, u in (upstreams or {}).items():
        lines += ["", f"[upstream.{name}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in u.items()]
    return "\n".join(lines) + "\n"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------


class Wsgate:
    """One running wsgate process with its config, www dir and captured stderr."""

    def __init__(self, tmp_dir, routes, server=None, files=None, listen_extra=None, name="wsgate",
                 upstreams=None):
        self.dir = tmp_dir
        self.routes = routes
        self.upstreams = upstreams or {}
        self.server_opts = server or {}
        self.listen_extra = listen_extra or {}
        self.www = os.path.join(tmp_dir, "www")
        os.makedirs(self.www, exist_ok=True)
        for rel, content in (files or {}).items():
            path = os.path.join(self.www, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
        self.cfg = os.path.join(tmp_dir, f"{name}.toml")
        self.log_path = os.path.join(tmp_dir, f"{name}.stderr")
        self.proc = None
        self.port = None
        self.stopped = False
        self.term_sent = False

    # --- start / stop ---

    def write_config(self, text=None):
        if text is None:
            text = make_config(self.port, self.routes, self.server_opts, self.listen_extra,
                               self.upstreams)
        with open(self.cfg, "w") as f:
            f.write(text)

    def start(self):
        binary = _require_binary()
        for _attempt in range(3):
            self.port = free_port()
            self.write_config()
            self._log_file = open(self.log_path, "ab")
            self.proc = subprocess.Popen([binary, "-c", self.cfg], stdin=subprocess.DEVNULL,
                                         stdout=self._log_file, stderr=self._log_file,
                                         cwd=self.dir)
            if self._wait_accepting():
                return self
            if self.proc.poll() is not None and "in use" in self.log():
                continue  # another process took the port between free_port() and bind
            break
        self.kill()
        pytest.fail(f"wsgate did not accept on 127.0.0.1:{self.port} within {START_WAIT} s "
                    f"(exit code {self.proc.returncode})\n--- stderr ---\n{self.log()}")

    def _wait_accepting(self):
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def signal(self, sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.term_sent = True
        self.proc.send_signal(sig)

    def stop(self, timeout=SHUTDOWN_WAIT):
        """SIGTERM (unless the test sent one already), then the exit code, or None after kill -9
        if the process did not exit within `timeout`."""
        if self.proc.poll() is None and not self.term_sent:
            self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.stopped = True
            return None
        self.stopped = True
        self._log_file.close()
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    # --- observation ---

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Waits until regex `pattern` appears in the log after offset `start`; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.log(), start)
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"log never matched {pattern!r} within {timeout} s:\n"
                                     f"{self.log()}")
            time.sleep(0.05)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path="/echo"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def connect(self, timeout=IO_TIMEOUT):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in getattr(item, "_wsgate_servers", []):
            report.sections.append((f"wsgate stderr ({srv.log_path})", srv.log()))


@pytest.fixture
def wsgate(request, tmp_path):
    """Factory: wsgate(routes, server=None, files=None, listen_extra=None) -> running Wsgate."""
    servers = []
    request.node._wsgate_servers = servers

    def start(routes, server=None, files=None, listen_extra=None, upstreams=None):
        d = tmp_path / f"srv{len(servers)}"
        d.mkdir()
        srv = Wsgate(str(d), routes, server, files, listen_extra, upstreams=upstreams)
        servers.append(srv)
        return srv.start()

    yield start
    problems = []
    for srv in servers:
        if srv.stopped:
            continue
        code = srv.stop()
        if code != 0:
            problems.append(f"wsgate on port {srv.port}: after SIGTERM, exit code {code} "
                            f"(None = still running after {SHUTDOWN_WAIT} s, killed)\n"
                            f"--- stderr ---\n{srv.log()}")
    if problems:
        pytest.fail("\n".join(problems))


# ---------------------------------------------------------------------------------------------
# Raw sockets: a buffered reader, HTTP responses
# ---------------------------------------------------------------------------------------------


class Reader:
    """Buffered reads on a blocking socket with a timeout; EOF raises EOFError."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buf += data

    def fill_to(self, n):
        """Buffers at least n bytes without consuming them."""
        while len(self.buf) < n:
            self._fill()

    def read_exact(self, n):
        self.fill_to(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError(f"no {sep!r} within {limit} bytes")
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_to_eof(self):
        """Everything until the server closes (a reset counts as a close)."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buf += data
        except ConnectionResetError:
            pass
        out, self.buf = self.buf, b""
        return out

    def at_eof(self, timeout=1.0):
        """True if the server closes (FIN or RST) within `timeout` with no more bytes pending."""
        if self.buf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)


class Response:
    def __init__(self, status, reason, version, headers, body):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # list of (lowercase name, value)
        self.body = body

    def header(self, name):
        """The single value of `name` (lowercase compare), None if absent; asserts not repeated."""
        vals = self.all(name)
        assert len(vals) <= 1, f"{name} repeated: {vals}"
        return vals[0] if vals else None

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {self.headers} body={self.body[:200]!r}>"


def read_response(reader, head_request=False):
    """Reads one HTTP/1.x response (Content-Length, chunked, or until EOF)."""
    head = reader.read_until(b"\r\n\r\n").decode("latin-1")
    lines = head.split("\r\n")
    m = re.match(r"HTTP/(\d\.\d) (\d{3}) ?(.*)$", lines[0])
    assert m, f"bad status line {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    status = int(m.group(2))
    resp = Response(status, m.group(3), m.group(1), headers, b"")
    if head_request or status in (204, 304) or status < 200:
        return resp
    te = resp.header("transfer-encoding")
    cl = resp.header("content-length")
    if te and "chunked" in te.lower():
        body = b""
        while True:
            size = int(reader.read_until(b"\r\n").split(b";")[0].strip(), 16)
            if size == 0:
                while reader.read_until(b"\r\n") != b"\r\n":
                    pass
                break
            body += reader.read_exact(size)
            assert reader.read_exact(2) == b"\r\n"
        resp.body = body
    elif cl is not None:
        resp.body = reader.read_exact(int(cl))
    else:
        resp.body = reader.read_to_eof()
    return resp


def http_exchange(srv, raw_request, head_request=False, timeout=IO_TIMEOUT):
    """Sends `raw_request` (bytes) on a new connection, returns (Response, Reader)."""
    sock = srv.connect(timeout)
    sock.sendall(raw_request)
    reader = Reader(sock)
    return read_response(reader, head_request), reader


# ---------------------------------------------------------------------------------------------
# Raw WebSocket client
# ---------------------------------------------------------------------------------------------


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def upgrade_request(path="/echo", key=None, host="127.0.0.1", extra=(), method="GET",
                    version="13", omit=()):
    """The bytes of a client opening handshake; `omit` drops headers by lowercase name."""
    key = key or ws_key()
    hdrs = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    hdrs = [(k, v) for k, v in hdrs if k.lower() not in omit] + list(extra)
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    return text.encode()


def ws_handshake(srv, path="/echo", extra=(), timeout=IO_TIMEOUT):
    """Opens a raw WebSocket (asserting the 101 and its accept); returns (sock, Reader).

    The 101 response is kept as `reader.response`."""
    key = ws_key()
    sock = srv.connect(timeout)
    sock.sendall(upgrade_request(path, key, extra=extra))
    reader = Reader(sock)
    resp = read_response(reader, head_request=True)
    assert resp.status == 101, resp
    assert resp.header("sec-websocket-accept") == ws_accept(key), resp
    reader.response = resp
    return sock, reader


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length_override=None):
    """One frame as a client would send it; `rsv` is the 3-bit RSV1..3 field."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length_override is None else length_override
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_frame(code=None, reason=b"", mask=True):
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(OP_CLOSE, payload, mask=mask)


def read_frame(reader):
    """One server frame: (fin, rsv, opcode, payload). Server frames must be unmasked.

    Nothing is consumed until the whole frame is buffered, so a socket timeout part-way leaves
    the reader intact for a retry."""
    reader.fill_to(2)
    b0, b1 = reader.buf[0], reader.buf[1]
    assert not b1 & 0x80, "server frame is masked"
    n, head = b1 & 0x7F, 2
    if n == 126:
        reader.fill_to(4)
        n, head = struct.unpack("!H", reader.buf[2:4])[0], 4
    elif n == 127:
        reader.fill_to(10)
        n, head = struct.unpack("!Q", reader.buf[2:10])[0], 10
    reader.fill_to(head + n)
    data = reader.read_exact(head + n)
    return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, data[head:]


def read_message(reader, skip_pings=True):
    """Next data message (opcode, payload), answering nothing; skips pings/pongs if asked."""
    while True:
        fin, _rsv, op, payload = read_frame(reader)
        if op in (OP_PING, OP_PONG) and skip_pings:
            continue
        if op == OP_CONT:
            raise AssertionError("continuation without start from the server")
        data = payload
        while not fin:
            fin, _rsv, op2, more = read_frame(reader)
            assert op2 == OP_CONT, f"opcode {op2} inside a fragmented message"
            data += more
        return op, data


def read_close(reader):
    """Reads frames until the server's close; returns (code or None, reason bytes)."""
    while True:
        _fin, _rsv, op, payload = read_frame(reader)
        if op == OP_CLOSE:
            if not payload:
                return None, b""
            assert len(payload) >= 2, f"close payload of 1 byte: {payload!r}"
            return struct.unpack("!H", payload[:2])[0], payload[2:]
