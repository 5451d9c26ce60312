"""TLS on listeners and upstreams, against clients and servers we did not write: curl, `openssl
s_client` / `s_server`, Python's ssl and `websockets`, and nginx from Debian. The certificates
come from a test CA made at run time (tls_certs.py).

Listeners: HTTPS to a static route (curl with the test CA), TLS 1.2 and 1.3 accepted while 1.0
and 1.1 are refused (checked against an `s_server` control that does speak 1.0/1.1 with the
same client command, so a client that refuses on its own cannot make the test pass); ALPN
http/1.1; `ciphers` / `ciphersuites`; SNI picking the certificate whose SAN names match
(wildcards cover one label; anything else gets the first, default certificate); plain HTTP or a
garbage ClientHello on a TLS port closes that connection with one info line naming the peer
while the server keeps serving; session resumption with tickets and with the session cache;
wss:// to echo (also with compression), bridge and proxy routes; certificates re-read on
SIGHUP (new connections get the new one, an open connection keeps working, a broken key is
refused and the old certificate stays); redirect_https on a plain listener (308, Location with
the same target and query, port only when not 443); `--check` loading the certificates.

Upstreams: nginx with the "localhost" leaf behind a proxy route with tls = true, tls_ca and
tls_server_name (body, SNI seen by nginx, X-Forwarded-Proto https, one upstream TLS connection
reused by sequential requests, proved by nginx's $connection / $connection_requests); a Python
TLS upstream for verification: untrusted CA, expired, wrong name and missing IP SAN are 502
(with OpenSSL's reason in the log, and no request ever sent to that upstream) while
insecure_skip_verify = true and the IP SAN for a server written as 127.0.0.1 are accepted."""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from backends import TcpBackend
from conftest import Reader, Wsgate, free_port, make_config, read_response, run_async, toml_value
from tls_certs import OPENSSL, Certs
from upstreams import HttpUpstream, IO_TIMEOUT as UP_IO_TIMEOUT, echo
from ws_upstream import WsUpstream

import websockets

CURL = "/usr/bin/curl"
NGINX = "/usr/sbin/nginx"
IO = 5.0  # seconds: every client socket operation
MiB = 1 << 20
STATIC_FILES = {"file.txt": "hello over tls\n", "a/b": "a-b\n"}


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("pki"))


def tls_table(certs, name="localhost", sni=(), **extra):
    cert, key = certs.pair(name)
    t = {"cert": cert, "key": key}
    t.update(extra)
    if sni:
        t["sni"] = [{"cert": c, "key": k} for c, k in (certs.pair(n) for n in sni)]
    return t


STATIC = {"path": "/", "kind": "static", "root": "www"}


def tls_server(wsgate, certs, routes=(STATIC,), name="localhost", sni=(), tls=None, **kw):
    t = tls_table(certs, name, sni)
    t.update(tls or {})
    kw.setdefault("files", STATIC_FILES)
    return wsgate(list(routes), listen_extra={"tls": t}, **kw)


def curl(port, path="/file.txt", *args, ca=None, host="localhost", scheme="https"):
    """curl -sS to host:port (resolved to 127.0.0.1) with the test CA; CompletedProcess."""
    cmd = [CURL, "-sS", "--max-time", "5", "--resolve", f"{host}:{port}:127.0.0.1"]
    if ca:
        cmd += ["--cacert", ca]
    cmd += [*args, f"{scheme}://{host}:{port}{path}"]
    return subprocess.run(cmd, capture_output=True, timeout=15)


def s_client(port, *args, send=b"", ign_eof=False):
    """openssl s_client to 127.0.0.1:port; (exit code, stdout + stderr as text). Without
    `ign_eof` it quits at the end of `send` (as soon as the handshake is done when empty)."""
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args]
    if ign_eof:
        cmd.append("-ign_eof")
    r = subprocess.run(cmd, input=send, capture_output=True, timeout=15)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def subject(out):
    m = re.search(r"(?m)^subject=(.*)$", out)
    assert m, f"no server certificate in the s_client output:\n{out}"
    return m.group(1).strip()


def negotiated(out):
    """('New'|'Reused', protocol, cipher) from s_client's summary line."""
    m = re.search(r"(?m)^(New|Reused), (\S+), Cipher is (\S+)", out)
    assert m, f"no session summary in the s_client output:\n{out}"
    return m.groups()


def client_ctx(certs):
    ctx = ssl.create_default_context(cafile=certs.ca)
    return ctx


def tls_connect(port, certs, server_hostname="localhost", ctx=None):
    """A verified TLS client socket to 127.0.0.1:port (SNI = server_hostname)."""
    ctx = ctx or client_ctx(certs)
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO)
    return ctx.wrap_socket(raw, server_hostname=server_hostname)


def get(reader, path, host="localhost", headers=()):
    """One keep-alive GET on the TLS socket behind `reader`; the Response."""
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    reader.sock.sendall(head.encode())
    return read_response(reader)


def https_get(port, certs, path, host="localhost"):
    with tls_connect(port, certs) as s:
        return get(Reader(s), path, host)


def peer_org(sock):
    """The O= of the certificate the server presented on a verified socket."""
    subj = dict(x[0] for x in sock.getpeercert()["subject"])
    return subj.get("organizationName"), subj.get("commonName")


def wait_accepting(port, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def old_tls_control(certs, tmp_path_factory):
    """`openssl s_server -www` that speaks only TLS 1.0 and 1.1 (security level 0): proof that
    the client commands used against wsgate can negotiate those versions when a server allows
    them."""
    d = tmp_path_factory.mktemp("s_server")
    cert, key = certs.pair("localhost")
    for _ in range(3):
        port = free_port()
        log = open(d / "s_server.log", "ab")
        proc = subprocess.Popen([OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                                 cert, "-key", key, "-min_protocol", "TLSv1",
                                 "-max_protocol", "TLSv1.1", "-cipher", "DEFAULT@SECLEVEL=0",
                                 "-www", "-quiet"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if wait_accepting(port, proc):
            break
        proc.kill()
        proc.wait(5)
    else:
        pytest.fail("openssl s_server did not start")
    yield port
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    log.close()


# ---------------------------------------------------------------------------------------------
# 1. HTTPS with curl: versions, HTTP/1.1, ALPN, cipher configuration
# ---------------------------------------------------------------------------------------------


def test_curl_https_get_of_a_static_file(wsgate, certs):
    srv = tls_server(wsgate, certs)
    r = curl(srv.port, "/file.txt", "-w", "~~%{http_code} %{http_version} %{ssl_verify_result}",
             ca=certs.ca)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    body, _, tail = r.stdout.rpartition(b"~~")
    assert body == STATIC_FILES["file.txt"].encode()
    assert tail.decode() == "200 1.1 0"
    srv.wait_log(r'"GET /file\.txt HTTP/1\.1" 200 .*route=/')


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_curl_tls_version_accepted(wsgate, certs, version):
    srv = tls_server(wsgate, certs)
    r = curl(srv.port, "/file.txt", "-v", f"--tlsv{version}", "--tls-max", version, ca=certs.ca)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err
    assert r.stdout == STATIC_FILES["file.txt"].encode()
    assert f"SSL connection using TLSv{version} " in err, err


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_curl_tls_version_refused(wsgate, certs, old_tls_control, version):
    args = [f"--tlsv{version}", "--tls-max", version, "--ciphers", "DEFAULT@SECLEVEL=0",
            "-o", "/dev/null", "-w", "%{http_code}"]
    ctl = curl(old_tls_control, "/", *args, ca=certs.ca)
    assert ctl.returncode == 0 and ctl.stdout == b"200", (
        f"control: curl could not speak TLS {version} to s_server: {ctl.stderr!r}")
    srv = tls_server(wsgate, certs)
    r = curl(srv.port, "/file.txt", *args, ca=certs.ca)
    assert r.returncode == 35, (r.returncode, r.stdout, r.stderr)  # 35: TLS handshake failed
    assert b"protocol version" in r.stderr, r.stderr
    # Refused, not crashed: the next client is served.
    assert curl(srv.port, "/file.txt", ca=certs.ca).stdout == STATIC_FILES["file.txt"].encode()


def test_alpn_is_http11(wsgate, certs):
    srv = tls_server(wsgate, certs)
    rc, out = s_client(srv.port, "-alpn", "http/1.1", "-servername", "localhost")
    assert rc == 0, out
    assert "ALPN protocol: http/1.1" in out, out
    # Offered h2 first: the server still picks the only protocol it speaks.
    rc, out = s_client(srv.port, "-alpn", "h2,http/1.1", "-servername", "localhost")
    assert rc == 0, out
    assert "ALPN protocol: http/1.1" in out, out


def test_ciphers_and_ciphersuites_are_applied(wsgate, certs):
    srv = tls_server(wsgate, certs, tls={"ciphers": "ECDHE-ECDSA-CHACHA20-POLY1305",
                                         "ciphersuites": "TLS_CHACHA20_POLY1305_SHA256"})
    rc, out = s_client(srv.port, "-tls1_3", "-servername", "localhost")
    assert rc == 0, out
    assert negotiated(out)[1:] == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
    rc, out = s_client(srv.port, "-tls1_2", "-servername", "localhost")
    assert rc == 0, out
    assert negotiated(out)[1:] == ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305")
    # A TLS 1.2 client offering only a cipher outside the list gets no handshake.
    rc, out = s_client(srv.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
                       "-servername", "localhost")
    assert rc != 0, out
    assert negotiated(out)[1:] == ("(NONE)", "(NONE)"), out


# ---------------------------------------------------------------------------------------------
# 2. SNI
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def sni_srv(wsgate, certs):
    return tls_server(wsgate, certs, sni=("a.test", "wild.b.test"))


@pytest.mark.parametrize("name,cn", [
    ("a.test", "a.test"),
    ("x.b.test", "*.b.test"),
    ("localhost", "localhost"),
    ("unknown.example", "localhost"),  # no match: the default (first) certificate
    ("b.test", "localhost"),  # *.b.test does not cover b.test itself
    ("y.x.b.test", "localhost"),  # nor two labels
])
def test_sni_picks_the_certificate(sni_srv, name, cn):
    rc, out = s_client(sni_srv.port, "-servername", name)
    assert rc == 0, out
    assert subject(out) == f"O = wsgate-A, CN = {cn}", out


def test_sni_names_compare_case_insensitively(sni_srv):
    # DNS names are case-insensitive (RFC 4343; RFC 6125 6.4.1 for certificate names).
    for name, cn in (("A.TEST", "a.test"), ("X.B.Test", "*.b.test")):
        rc, out = s_client(sni_srv.port, "-servername", name)
        assert rc == 0, out
        assert subject(out) == f"O = wsgate-A, CN = {cn}", f"SNI {name}:\n{out}"


def test_no_sni_gets_the_default_certificate(sni_srv, certs):
    rc, out = s_client(sni_srv.port, "-noservername")
    assert rc == 0, out
    assert subject(out) == "O = wsgate-A, CN = localhost", out
    # And each SNI name serves requests, verified against the test CA.
    for name in ("a.test", "x.b.test", "localhost"):
        with tls_connect(sni_srv.port, certs, server_hostname=name) as s:
            resp = get(Reader(s), "/file.txt", host=name)
            assert resp.status == 200 and resp.body == STATIC_FILES["file.txt"].encode()


# ---------------------------------------------------------------------------------------------
# 3. Refused versions, plain HTTP and garbage on the TLS port
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_s_client_old_versions_refused(wsgate, certs, old_tls_control, flag):
    args = [flag, "-cipher", "DEFAULT@SECLEVEL=0", "-servername", "localhost"]
    rc, out = s_client(old_tls_control, *args)
    assert rc == 0 and negotiated(out)[2] != "(NONE)", f"control s_server refused {flag}:\n{out}"
    srv = tls_server(wsgate, certs)
    rc, out = s_client(srv.port, *args)
    assert rc != 0, out
    assert negotiated(out)[1:] == ("(NONE)", "(NONE)"), out
    assert "alert protocol version" in out, out
    rc, out = s_client(srv.port, "-servername", "localhost")
    assert rc == 0 and negotiated(out)[1] == "TLSv1.3", out


def _closed_without_answer(sock, timeout=IO):
    """Reads to EOF (or reset) within `timeout`; returns the bytes received."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                return got
            got += data
    except ConnectionResetError:
        return got
    except socket.timeout:
        pass
    raise AssertionError(f"the connection was still open after {timeout} s (got {got!r})")


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    # A handshake record whose ClientHello is nonsense.
    b"\x16\x03\x01\x00\x2c\x01\x00\x00\x28" + bytes(range(40)),
], ids=["plain-http", "bad-client-hello"])
def test_non_tls_bytes_close_the_connection_and_log_once(wsgate, certs, garbage):
    srv = tls_server(wsgate, certs)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=IO) as s:
        peer = s.getsockname()[1]
        s.sendall(garbage)
        got = _closed_without_answer(s)
    # Whatever came back (at most a TLS alert record) is no HTTP response.
    assert not got.startswith(b"HTTP/"), got
    assert not got or got[0] == 0x15, f"not a TLS alert: {got!r}"
    line = rf"tls handshake with 127\.0\.0\.1:{peer} failed: "
    srv.wait_log(line)
    time.sleep(0.3)  # a duplicate line would be written at once
    lines = [x for x in srv.log().splitlines() if re.search(line, x)]
    assert len(lines) == 1, lines
    assert re.search(r"\binfo\b", lines[0].split("tls handshake")[0]), lines[0]
    # The server keeps serving TLS.
    r = curl(srv.port, "/file.txt", ca=certs.ca)
    assert r.returncode == 0 and r.stdout == STATIC_FILES["file.txt"].encode(), r.stderr


# ---------------------------------------------------------------------------------------------
# 4. Session resumption
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags,proto", [
    (["-tls1_2"], "TLSv1.2"),  # session tickets
    (["-tls1_2", "-no_ticket"], "TLSv1.2"),  # the server's session cache (session IDs)
    (["-tls1_3"], "TLSv1.3"),  # TLS 1.3 tickets (PSK)
], ids=["tls12-ticket", "tls12-cache", "tls13"])
def test_session_resumption(wsgate, certs, tmp_path, flags, proto):
    srv = tls_server(wsgate, certs)
    # A request with -ign_eof keeps s_client reading until the server closes, so that TLS 1.3
    # tickets (sent after the handshake) arrive before it saves the session.
    req = b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    common = [*flags, "-servername", "localhost", "-CAfile", certs.ca]
    sess = tmp_path / "s0"
    rc, out = s_client(srv.port, *common, "-sess_out", str(sess), send=req, ign_eof=True)
    assert rc == 0, out
    assert negotiated(out)[:2] == ("New", proto), out
    assert "hello over tls" in out
    # Several resumptions: with 2 workers these reach both (a per-worker cache would miss).
    # A resumed TLS 1.2 session is the same session (no new one to save); TLS 1.3 tickets are
    # fresh on every connection, so the newest is used.
    for i in range(1, 5):
        nxt = tmp_path / f"s{i}"
        rc, out = s_client(srv.port, *common, "-sess_in", str(sess), "-sess_out", str(nxt),
                           send=req, ign_eof=True)
        assert rc == 0, out
        assert negotiated(out)[:2] == ("Reused", proto), f"resumption {i}:\n{out}"
        assert "hello over tls" in out
        if nxt.exists():
            sess = nxt


# ---------------------------------------------------------------------------------------------
# 5. wss:// to echo, bridge and proxy routes
# ---------------------------------------------------------------------------------------------


def wss_connect(srv, certs, path, **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    kw.setdefault("max_size", 32 << 20)
    return websockets.connect(f"wss://localhost:{srv.port}{path}", ssl=client_ctx(certs),
                              sock=socket.create_connection(("127.0.0.1", srv.port), timeout=IO),
                              server_hostname="localhost", **kw)


ECHO_ROUTE = {"path": "/echo", "kind": "echo", "max_message_size": "32m",
              "max_frame_size": "32m"}


def test_wss_echo(wsgate, certs):
    srv = tls_server(wsgate, certs, routes=[ECHO_ROUTE])

    async def go():
        async with wss_connect(srv, certs, "/echo", compression=None) as ws:
            for msg in ("héllo over wss", b"\x00\x01\xfe\xff", os.urandom(MiB), "x" * MiB):
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 10)
                assert type(got) is type(msg) and got == msg
            await ws.close(4000, "bye")
            assert ws.close_code == 4000
    run_async(go())
    srv.wait_log(r'"GET /echo HTTP/1\.1" 101 .*ws_close=4000')


def test_wss_echo_with_shared_compression(wsgate, certs):
    srv = tls_server(wsgate, certs, routes=[dict(ECHO_ROUTE, compression="shared")])
    doc = json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", "b", "c"]}
                      for i in range(20000)])
    assert len(doc) > MiB

    async def go():
        async with wss_connect(srv, certs, "/echo?id=deflate") as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
            assert ext.startswith("permessage-deflate"), ext
            for msg in ("small", doc, doc.encode()):
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 10)
                assert type(got) is type(msg) and got == msg
    run_async(go())
    m = srv.wait_log(r'"GET /echo\?id=deflate HTTP/1\.1" 101 .* rx=(\d+) tx=(\d+)')
    rx, tx = int(m.group(1)), int(m.group(2))
    total = 2 * len(doc) + 5
    assert tx < total / 3 and rx < total / 3, (rx, tx, total)


def test_wss_bridge_to_tcp_echo(wsgate, certs):
    be = TcpBackend("echo")
    try:
        srv = tls_server(wsgate, certs,
                         routes=[{"path": "/tcp", "kind": "bridge", "upstream": "be",
                                  "max_message_size": "32m"}],
                         upstreams={"be": {"servers": [be.address]}})

        async def go():
            async with wss_connect(srv, certs, "/tcp", subprotocols=["binary"]) as ws:
                assert ws.subprotocol == "binary"
                for size in (1, 70000, MiB):
                    data = os.urandom(size)
                    await ws.send(data)
                    got = bytearray()
                    while len(got) < size:
                        got += await asyncio.wait_for(ws.recv(), 10)
                    assert bytes(got) == data
        run_async(go())
        srv.wait_log(r'"GET /tcp HTTP/1\.1" 101 .*ws_close=1000')
    finally:
        be.close()


def test_wss_proxy_to_websocket_upstream(wsgate, certs):
    up = WsUpstream("echo")
    try:
        srv = tls_server(wsgate, certs,
                         routes=[{"path": "/ws", "kind": "proxy", "upstream": "app",
                                  "max_message_size": "32m"}],
                         upstreams={"app": {"servers": [up.address]}})

        async def go():
            async with wss_connect(srv, certs, "/ws?id=wss1") as ws:
                for msg in ("text via tls", b"\x00bin", os.urandom(MiB)):
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 10)
                    assert type(got) is type(msg) and got == msg
                await ws.close(4001, "done")
                assert ws.close_code == 4001
        run_async(go())
        rec = up.wait_conn("wss1")
        assert rec.header("x-forwarded-proto") == "https", rec.headers
        rec.wait_ended()
        assert rec.close_rcvd == (4001, "done")
        assert not up.errors, up.errors
    finally:
        up.close()


# ---------------------------------------------------------------------------------------------
# 6. A TLS upstream: nginx
# ---------------------------------------------------------------------------------------------


NGINX_FILE = "served by nginx over tls\n"


class Nginx:
    def __init__(self, d, certs):
        self.dir = str(d)
        html = os.path.join(self.dir, "html", "ng")
        os.makedirs(html)
        with open(os.path.join(html, "file.txt"), "w") as f:
            f.write(NGINX_FILE)
        self.access = os.path.join(self.dir, "access.log")
        self.stderr_path = os.path.join(self.dir, "nginx.stderr")
        cert, key = certs.pair("localhost")
        self.proc = None
        for _ in range(3):
            self.port = free_port()
            user = "user root;" if os.geteuid() == 0 else ""  # workers must read the tmp dir
            tmp = {k: os.path.join(self.dir, k) for k in ("body", "proxy", "fcgi", "uwsgi", "scgi")}
            conf = f"""{user}
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    log_format t 'conn=$connection reqs=$connection_requests "$request" $status '
                 'proto=$ssl_protocol sni=$ssl_server_name xfp=$http_x_forwarded_proto';
    access_log {self.access} t;
    client_body_temp_path {tmp["body"]};
    proxy_temp_path {tmp["proxy"]};
    fastcgi_temp_path {tmp["fcgi"]};
    uwsgi_temp_path {tmp["uwsgi"]};
    scgi_temp_path {tmp["scgi"]};
    keepalive_timeout 60s;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {os.path.join(self.dir, "html")};
        add_header X-Seen-Proto "$http_x_forwarded_proto" always;
        location = /ng/ok {{ return 200 "ok from nginx\\n"; }}
        location / {{ }}
    }}
}}
"""
            self.conf = os.path.join(self.dir, "nginx.conf")
            with open(self.conf, "w") as f:
                f.write(conf)
            self._err = open(self.stderr_path, "ab")
            pid = os.path.join(self.dir, "nginx.pid")
            self.proc = subprocess.Popen(
                [NGINX, "-e", "stderr", "-p", self.dir, "-c", self.conf, "-g",
                 f"daemon off; pid {pid}; error_log stderr;"],
                stdin=subprocess.DEVNULL, stdout=self._err, stderr=self._err)
            if wait_accepting(self.port, self.proc):
                return
            self.stop()
        self.proc = None

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def access_lines(self):
        try:
            with open(self.access) as f:
                return [x for x in f.read().splitlines() if '"GET /ng/' in x]
        except OSError:
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master, by its PID: it stops its worker
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()


@pytest.fixture
def nginx(tmp_path, certs):
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"{NGINX} not installed (the Python TLS upstream tests cover verification)")
    n = Nginx(tmp_path / "nginx", certs)
    if n.proc is None:
        pytest.fail(f"nginx did not start:\n{n.log()}")
    yield n
    n.stop()


ACCESS_RX = re.compile(r'conn=(\d+) reqs=(\d+) "GET (\S+) HTTP/1\.1" (\d+) proto=(\S+) '
                       r'sni=(\S+) xfp=(\S+)')


def test_proxy_to_nginx_over_tls(wsgate, certs, nginx):
    srv = tls_server(wsgate, certs, server={"workers": 1},
                     routes=[{"path": "/ng", "kind": "proxy", "upstream": "ng"}],
                     upstreams={"ng": {"servers": [f"127.0.0.1:{nginx.port}"], "tls": True,
                                       "tls_ca": certs.ca, "tls_server_name": "localhost"}})
    # Three requests on one client connection, then two on new client connections: one
    # upstream TLS connection (kept by the worker's pool) carries them all.
    with tls_connect(srv.port, certs) as s:
        reader = Reader(s)
        for path, body in (("/ng/file.txt", NGINX_FILE), ("/ng/ok", "ok from nginx\n"),
                           ("/ng/file.txt", NGINX_FILE)):
            resp = get(reader, path)
            assert resp.status == 200, (resp, nginx.log())
            assert resp.body == body.encode()
            assert resp.header("x-seen-proto") == "https", resp
    for path in ("/ng/ok", "/ng/file.txt"):
        resp = https_get(srv.port, certs, path)
        assert resp.status == 200 and resp.header("x-seen-proto") == "https", resp
    lines = nginx.access_lines()
    assert len(lines) == 5, lines
    parsed = [ACCESS_RX.search(x) for x in lines]
    assert all(parsed), lines
    conns = {m.group(1) for m in parsed}
    assert len(conns) == 1, f"upstream TLS connection not reused: {lines}"
    assert [int(m.group(2)) for m in parsed] == [1, 2, 3, 4, 5], lines
    for m in parsed:
        assert m.group(4) == "200"
        assert m.group(5) in ("TLSv1.2", "TLSv1.3")
        assert m.group(6) == "localhost", "tls_server_name is not the SNI sent"
        assert m.group(7) == "https"


# ---------------------------------------------------------------------------------------------
# 7. Upstream certificate verification (a Python TLS upstream)
# ---------------------------------------------------------------------------------------------


class TlsHttpUpstream(HttpUpstream):
    """upstreams.HttpUpstream with every accepted connection wrapped in TLS (cert, key)."""

    def __init__(self, handler, cert, key, **kw):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.handshake_errors = []
        super().__init__(handler, **kw)

    def _serve(self, conn, n, peer_port):
        try:
            conn.settimeout(UP_IO_TIMEOUT)
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except OSError as e:  # the proxy refused our certificate (that is the point)
            self.handshake_errors.append(repr(e))
            conn.close()
            return
        super()._serve(tls, n, peer_port)


@pytest.fixture
def tls_upstream():
    made = []

    def make(certs, name, handler=echo):
        u = TlsHttpUpstream(handler, *certs.pair(name))
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()
    errors = [e for u in made for e in u.errors]
    assert not errors, f"upstream handlers failed: {errors}"


def plain_get(port, path, host="front.example"):
    with socket.create_connection(("127.0.0.1", port), timeout=IO) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return read_response(Reader(s))


def proxy_to(wsgate, up, upstream_opts):
    """A plain listener, one worker (so that one upstream pool serves every request)."""
    u = {"servers": [up.address], "tls": True}
    u.update(upstream_opts)
    return wsgate([{"path": "/api", "kind": "proxy", "upstream": "app"}],
                  server={"workers": 1}, upstreams={"app": u})


@pytest.mark.parametrize("leaf,opts,why", [
    ("localhost", {"tls_server_name": "localhost"},  # no tls_ca: the system store
     r"unable to get local issuer certificate"),
    ("expired", {"tls_ca": None, "tls_server_name": "localhost"}, r"certificate has expired"),
    ("localhost", {"tls_ca": None, "tls_server_name": "wrong.test"}, r"hostname mismatch"),
    # Written as 127.0.0.1 with no tls_server_name: verified as an IP SAN, which a.test lacks.
    ("a.test", {"tls_ca": None}, r"IP address mismatch"),
], ids=["untrusted", "expired", "wrong-name", "no-ip-san"])
def test_upstream_verification_failure_is_502(wsgate, certs, tls_upstream, leaf, opts, why):
    up = tls_upstream(certs, leaf)
    opts = {k: (certs.ca if k == "tls_ca" else v) for k, v in opts.items()}
    srv = proxy_to(wsgate, up, opts)
    resp = plain_get(srv.port, "/api/x")
    assert resp.status == 502, resp
    srv.wait_log(why)
    assert not up.snapshot(), "a request was sent over an unverified connection"
    # The proxy did try the upstream and gave up in the handshake (the upstream's thread
    # records that a moment after the 502).
    deadline = time.monotonic() + IO
    while not up.handshake_errors and time.monotonic() < deadline:
        time.sleep(0.02)
    assert up.accepted >= 1 and up.handshake_errors, (up.accepted, up.handshake_errors)
    assert not up.snapshot(), "a request was sent over an unverified connection"


@pytest.mark.parametrize("leaf,opts", [
    ("localhost", {"insecure_skip_verify": True}),  # untrusted, accepted because told so
    ("expired", {"insecure_skip_verify": True}),
    ("localhost", {"tls_ca": None}),  # 127.0.0.1 verified against the IP SAN
    ("localhost", {"tls_ca": None, "tls_server_name": "localhost"}),
], ids=["insecure-untrusted", "insecure-expired", "ip-san", "server-name"])
def test_upstream_tls_accepted(wsgate, certs, tls_upstream, leaf, opts):
    up = tls_upstream(certs, leaf)
    opts = {k: (certs.ca if k == "tls_ca" else v) for k, v in opts.items()}
    srv = proxy_to(wsgate, up, opts)
    for i in range(3):
        resp = plain_get(srv.port, f"/api/x{i}")
        assert resp.status == 200, resp
        d = json.loads(resp.body)
        assert d["target"] == f"/api/x{i}"
        # The client came over plain HTTP: TLS toward the upstream does not make it https.
        assert [v for k, v in d["headers"] if k.lower() == "x-forwarded-proto"] == ["http"]
    reqs = up.snapshot()
    assert [r.conn for r in reqs] == [0, 0, 0], f"no keep-alive over upstream TLS: {reqs}"


def test_x_forwarded_proto_https_for_tls_clients(wsgate, certs, tls_upstream):
    up = tls_upstream(certs, "localhost")
    srv = tls_server(wsgate, certs, server={"workers": 1},
                     routes=[{"path": "/api", "kind": "proxy", "upstream": "app"}],
                     upstreams={"app": {"servers": [up.address], "tls": True,
                                        "tls_ca": certs.ca, "tls_server_name": "localhost"}})
    with tls_connect(srv.port, certs) as s:
        reader = Reader(s)
        for i in range(3):
            resp = get(reader, f"/api/p{i}", headers=[("X-Forwarded-Proto", "http")])
            assert resp.status == 200, resp
            d = json.loads(resp.body)
            xfp = [v for k, v in d["headers"] if k.lower() == "x-forwarded-proto"]
            assert xfp == ["https"], d["headers"]
    reqs = up.snapshot()
    assert [r.conn for r in reqs] == [0, 0, 0], f"one upstream TLS connection expected: {reqs}"


# ---------------------------------------------------------------------------------------------
# 8. Certificate reload on SIGHUP
# ---------------------------------------------------------------------------------------------


def test_sighup_reloads_the_certificate(wsgate, certs, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    cert, key = str(live / "live.pem"), str(live / "live.key")
    a_cert, a_key = certs.pair("localhost")
    b_cert, b_key = certs.pair("localhost-b")
    shutil.copy(a_cert, cert)
    shutil.copy(a_key, key)
    srv = wsgate([STATIC], files=STATIC_FILES, listen_extra={"tls": {"cert": cert, "key": key}})

    held = tls_connect(srv.port, certs)
    held_reader = Reader(held)
    try:
        assert peer_org(held) == ("wsgate-A", "localhost")
        assert get(held_reader, "/file.txt").status == 200

        def overwrite(src, dst):
            with open(src, "rb") as f:
                data = f.read()
            with open(dst, "wb") as f:
                f.write(data)

        overwrite(b_cert, cert)
        overwrite(b_key, key)
        start = len(srv.log())
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload: \d+ route\(s\) in force", start=start)
        for _ in range(4):  # new connections, whichever worker takes them
            with tls_connect(srv.port, certs) as s:
                assert peer_org(s) == ("wsgate-B", "localhost")
                assert get(Reader(s), "/file.txt").status == 200
        rc, out = s_client(srv.port, "-servername", "localhost")
        assert rc == 0 and subject(out) == "O = wsgate-B, CN = localhost", out
        # The connection opened before the reload keeps working.
        resp = get(held_reader, "/file.txt")
        assert resp.status == 200 and resp.body == STATIC_FILES["file.txt"].encode()

        # A broken key: the reload is refused and certificate B stays.
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        start = len(srv.log())
        srv.signal(signal.SIGHUP)
        m = srv.wait_log(r"keeping the running configuration", start=start)
        refusal = srv.log()[start:m.end()]
        assert "live.key" in refusal or "live.pem" in refusal, (
            f"the refused reload does not name the file:\n{refusal}")
        assert not re.search(r"reload: \d+ route\(s\) in force", srv.log()[start:])
        for _ in range(4):
            with tls_connect(srv.port, certs) as s:
                assert peer_org(s) == ("wsgate-B", "localhost")
                assert get(Reader(s), "/file.txt").status == 200
        resp = get(held_reader, "/file.txt")
        assert resp.status == 200 and resp.body == STATIC_FILES["file.txt"].encode()
    finally:
        held.close()


# ---------------------------------------------------------------------------------------------
# 9. redirect_https
# ---------------------------------------------------------------------------------------------


class PlainAndTls(Wsgate):
    """A plain listener with redirect_https on .port and a TLS listener on .tls_port, one
    process (the harness writes one [[listen]]; the TLS one is added to its text)."""

    tls = None

    def write_config(self, text=None):
        self.tls_port = free_port()
        text = make_config(self.port, self.routes, self.server_opts,
                           {"redirect_https": True, "redirect_https_port": self.tls_port})
        second = "\n[[listen]]\n" + f'address = "127.0.0.1:{self.tls_port}"\n'
        second += "tls = " + toml_value(self.tls) + "\n"
        i = text.index("\n[[route]]")
        text = text[:i] + "\n" + second + text[i:]
        with open(self.cfg, "w") as f:
            f.write(text)




@pytest.fixture
def redirect_pair(tmp_path, certs, request):
    d = tmp_path / "pair"
    d.mkdir()
    srv = PlainAndTls(str(d), [STATIC], files=STATIC_FILES)
    srv.tls = tls_table(certs)
    request.node._wsgate_servers = [srv]
    srv.start()
    yield srv
    code = srv.stop()
    assert code == 0, f"exit code {code} after SIGTERM\n{srv.log()}"


def head_of(out):
    head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


def test_redirect_https_with_port(redirect_pair, certs):
    srv = redirect_pair
    for method, target, host, want in [
        ("GET", "/a/b?c=1", f"localhost:{srv.port}", f"https://localhost:{srv.tls_port}/a/b?c=1"),
        ("GET", "/file.txt", "example.com", f"https://example.com:{srv.tls_port}/file.txt"),
        ("POST", "/a/b?c=1&d=%20x", "localhost",
         f"https://localhost:{srv.tls_port}/a/b?c=1&d=%20x"),
        ("HEAD", "/", "[::1]:8080", f"https://[::1]:{srv.tls_port}/"),
    ]:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=IO) as s:
            body = "x=1" if method == "POST" else ""
            extra = f"Content-Length: {len(body)}\r\n" if body else ""
            s.sendall(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n{body}"
                      .encode())
            resp = read_response(Reader(s), head_request=method == "HEAD")
        assert resp.status == 308, (method, target, resp)
        assert resp.header("location") == want, (method, target, resp)
    # curl follows the redirect to the TLS listener of the same process.
    r = curl(srv.port, "/file.txt?q=1", "-L", "--resolve", f"localhost:{srv.tls_port}:127.0.0.1",
             "-w", "~~%{num_redirects} %{url_effective}", ca=certs.ca, scheme="http")
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition(b"~~")
    assert body == STATIC_FILES["file.txt"].encode()
    assert tail.decode() == f"1 https://localhost:{srv.tls_port}/file.txt?q=1"


def test_redirect_https_default_port_has_no_port(wsgate):
    srv = wsgate([STATIC], files=STATIC_FILES, listen_extra={"redirect_https": True})
    r = curl(srv.port, "/a/b?c=1", "-D", "-", "-o", "/dev/null", scheme="http")
    assert r.returncode == 0, r.stderr
    status, headers = head_of(r.stdout)
    assert status == 308, r.stdout
    assert headers.get("location") == "https://localhost/a/b?c=1", headers


# ---------------------------------------------------------------------------------------------
# 10. --check loads the certificates
# ---------------------------------------------------------------------------------------------


def run_check(tmp_path, cert, key, name):
    d = tmp_path / name
    d.mkdir()
    (d / "www").mkdir()
    cfg = d / "wsgate.toml"
    cfg.write_text(make_config(free_port(), [STATIC], listen_extra={
        "tls": {"cert": cert, "key": key}}))
    binary = os.environ["WSGATE_BIN"]
    r = subprocess.run([binary, "--check", "-c", str(cfg)], capture_output=True, timeout=15,
                       cwd=str(d))
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def test_check_loads_certificates(tmp_path, certs):
    cert, key = certs.pair("localhost")
    rc, out = run_check(tmp_path, cert, key, "good")
    assert rc == 0, out
    # A key that belongs to another certificate.
    a_cert, _ = certs.pair("a.test")
    rc, out = run_check(tmp_path, a_cert, key, "mismatch")
    assert rc == 1, out
    assert "a.test.pem" in out or "localhost.key" in out, out
    # A certificate file that holds no certificate.
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    rc, out = run_check(tmp_path, str(junk), key, "junk")
    assert rc == 1, out
    assert "junk.pem" in out, out
