"""kind = "proxy" (HTTP/1.1 reverse proxy) against HTTP upstreams in this process
(upstreams.py, raw sockets so every response byte is under the test's control): the request
target passes through untouched; hop-by-hop fields (and every field the client's Connection
names) are dropped while end-to-end ones are kept; X-Forwarded-For/-Proto/-Host and Via are
added, Host is passed or replaced by `upstream_host`; 100 MB downloads (Content-Length and
chunked) and uploads (Content-Length and chunked) arrive with the right SHA-256, with the
upstream (or the client) held back while the other side stalls and wsgate's RSS bounded;
Expect: 100-continue is answered by wsgate and not forwarded; max_body_size gives 413; upstream
keep-alive reuses one connection across client connections (keepalive = 0: one per request;
`Connection: close` from the upstream: never reused) and a GET that meets a dead reused
connection is retried while a POST is not; 502 for a refused connect, an upstream that closes
without answering, or one that answers garbage; 504 after response_timeout and a cut client
connection after read_timeout; round_robin / least_conn / ip_hash balancing and failover when a
server dies; HEAD, 204 and 304 without a body on a connection that stays in sync; and an
until-close upstream body re-framed as chunked for HTTP/1.1 clients (close-delimited for
HTTP/1.0 ones)."""

import hashlib
import json
import re
import socket
import threading
import time

import pytest

from conftest import SANITIZED, Reader, Response, free_port, read_response
from upstreams import (HttpUpstream, StreamReader, download, echo,
                       has_token, header_joined, header_values, iter_body, pattern,
                       pattern_sha256)

MiB = 1 << 20
BIG = 100 * 1000 * 1000  # 100 MB transfers
IO = 5.0  # seconds: timeout of every client socket operation unless stated
RSS_GROWTH_KIB = 48 * 1024  # a proxy that buffered a 100 MB body would grow by 100 MB
IN_FLIGHT = 64 * MiB  # bytes one side may get ahead of a stalled other side (kernel buffers)
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade")


@pytest.fixture
def upstream():
    made = []

    def make(handler=echo, **kw):
        u = HttpUpstream(handler, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()
    errors = [e for u in made for e in u.errors]
    assert not errors, f"upstream handlers failed: {errors}"


def proxy(wsgate, *servers, path="/api", route=None, upstream=None, server=None, extra=()):
    """wsgate with one proxy route `path` -> upstream "app" over `servers` (plus `extra`
    (route, upstream name, upstream table) triples)."""
    r = {"path": path, "kind": "proxy", "upstream": "app"}
    r.update(route or {})
    u = {"servers": [s if isinstance(s, str) else s.address for s in servers]}
    u.update(upstream or {})
    routes, ups = [r], {"app": u}
    for er, name, eu in extra:
        routes.append(er)
        ups[name] = eu
    return wsgate(routes, server=server, upstreams=ups)


def request(method, target, host="front.example", headers=(), body=b"", version="1.1"):
    head = f"{method} {target} HTTP/{version}\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def connect(srv, timeout=IO, rcvbuf=None, sndbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", srv.port))
    return s


def fetch(srv, raw, head_request=False, timeout=IO):
    """One request on a new client connection: (Response, seconds it took)."""
    start = time.monotonic()
    with connect(srv, timeout) as s:
        s.sendall(raw)
        resp = read_response(Reader(s), head_request)
    return resp, time.monotonic() - start


def echoed(resp):
    """The request as the echo upstream saw it (its JSON body)."""
    assert resp.status == 200, resp
    d = json.loads(resp.body)
    d["headers"] = [tuple(h) for h in d["headers"]]
    return d


def read_head(sr):
    """A response head from a StreamReader, as conftest's Response (lowercase names)."""
    head = sr.read_until(b"\r\n\r\n", limit=65536).decode("latin-1")
    lines = head.split("\r\n")
    m = re.match(r"HTTP/(\d\.\d) (\d{3}) ?(.*)$", lines[0])
    assert m, f"bad status line {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers.append((k.strip().lower(), v.strip()))
    return Response(int(m.group(2)), m.group(3), m.group(1), headers, b"")


class RssPeak:
    """Samples the server's RSS every 20 ms while in the `with` block; `.peak` is the largest."""

    def __init__(self, srv):
        self.srv = srv
        self.base = srv.rss_kib()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.srv.rss_kib())
            except (OSError, AssertionError):
                return
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)

    def check(self, what):
        growth = self.peak - self.base
        print(f"{what}: RSS {self.base} KiB -> peak {self.peak} KiB (+{growth} KiB)")
        if not SANITIZED:
            assert growth < RSS_GROWTH_KIB, f"{what}: RSS grew by {growth} KiB"


# ---------------------------------------------------------------------------------------------
# 1. What reaches the upstream, and what comes back
# ---------------------------------------------------------------------------------------------


def test_request_headers_are_rewritten_and_end_to_end_fields_kept(wsgate, upstream):
    up = upstream(echo)
    pinned = ({"path": "/pinned", "kind": "proxy", "upstream": "app",
               "upstream_host": "backend.internal"}, "app2", {"servers": [up.address]})
    srv = proxy(wsgate, up, extra=[pinned])
    target = "/api/echo/a%20b;p=1?x=1&y=%2F&x=2&empty=&sp=a+b"
    client_headers = [
        ("User-Agent", "proxy-test/1"),
        ("Accept", "*/*"),
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "1"),
        ("Keep-Alive", "5"),
        ("TE", "trailers"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Via", "1.0 oldproxy"),
        ("Cookie", "a=b; c=d"),
        ("Authorization", "Bearer t0k3n"),
        ("X-Custom", "one"),
        ("X-Custom", "two"),
    ]
    with connect(srv) as s:
        reader = Reader(s)
        s.sendall(request("GET", target, host="front.example:8080", headers=client_headers))
        resp = read_response(reader)
        got = echoed(resp)
        h = got["headers"]
        assert got["method"] == "GET"
        assert got["target"] == target, "the request target must pass through byte for byte"
        assert got["version"] == "HTTP/1.1"
        assert header_values(h, "host") == ["front.example:8080"], h
        assert header_joined(h, "x-forwarded-for") == "10.0.0.1, 127.0.0.1", h
        assert header_values(h, "x-forwarded-proto") == ["http"], h
        assert header_values(h, "x-forwarded-host") == ["front.example:8080"], h
        assert header_joined(h, "via") == "1.0 oldproxy, 1.1 wsgate", h
        for name in ("x-secret",) + tuple(n for n in HOP_BY_HOP if n != "connection"):
            assert not header_values(h, name), f"{name} reached the upstream: {h}"
        # wsgate may state its own connection handling, but nothing of the client's.
        conn_tokens = {t.strip().lower() for t in (header_joined(h, "connection") or "").split(",")
                       if t.strip()}
        assert conn_tokens <= {"keep-alive", "close"}, h
        assert header_values(h, "cookie") == ["a=b; c=d"], h
        assert header_values(h, "authorization") == ["Bearer t0k3n"], h
        assert header_joined(h, "x-custom") == "one, two", h
        assert header_values(h, "user-agent") == ["proxy-test/1"], h
        assert header_values(h, "accept") == ["*/*"], h
        assert got["body_len"] == 0

        # The response: the upstream's Server kept, Via appended, hop-by-hop fields dropped.
        assert resp.header("server") == "test-upstream/1.0", resp
        assert ", ".join(resp.all("via")) == "1.1 upstream-cache, 1.1 wsgate", resp
        assert resp.header("keep-alive") is None, resp
        assert resp.header("x-upstream-reply") == "yes", resp
        assert resp.header("content-type") == "application/json", resp

        # Same client connection: no incoming X-Forwarded-For / Via, a bare path with a query.
        s.sendall(request("GET", "/api?q=1", host="second.example"))
        got = echoed(read_response(reader))
        h = got["headers"]
        assert got["target"] == "/api?q=1"
        assert header_values(h, "host") == ["second.example"], h
        assert header_joined(h, "x-forwarded-for") == "127.0.0.1", h
        assert header_joined(h, "via") == "1.1 wsgate", h
        assert header_values(h, "x-forwarded-host") == ["second.example"], h

    # upstream_host replaces Host; X-Forwarded-Host still carries the client's.
    resp, _ = fetch(srv, request("GET", "/pinned/x?k=v", host="front.example:8080"))
    got = echoed(resp)
    assert got["target"] == "/pinned/x?k=v"
    assert header_values(got["headers"], "host") == ["backend.internal"], got["headers"]
    assert header_values(got["headers"], "x-forwarded-host") == ["front.example:8080"]

    # An HTTP/1.0 client: the upstream still gets HTTP/1.1.
    resp, _ = fetch(srv, request("GET", "/api/old", host="old.example", version="1.0"))
    got = echoed(resp)
    assert got["version"] == "HTTP/1.1" and got["target"] == "/api/old"
    assert header_values(got["headers"], "host") == ["old.example"]


# ---------------------------------------------------------------------------------------------
# 2. 100 MB downloads
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_100_mb_download_is_intact_with_backpressure(wsgate, upstream, framing):
    # Small fixed socket buffers at both ends, so that what can be in flight while the client
    # does not read is the kernel buffers of wsgate's two sockets plus what wsgate holds.
    up = upstream(download, sndbuf=256 * 1024)
    srv = proxy(wsgate, up, server={"workers": 1})
    with RssPeak(srv) as rss:
        with connect(srv, timeout=10, rcvbuf=256 * 1024) as s:
            s.sendall(request("GET", f"/api/dl?size={BIG}&framing={framing}"))
            sr = StreamReader(s)
            resp = read_head(sr)
            assert resp.status == 200, resp
            if framing == "length":
                assert resp.header("content-length") == str(BIG), resp
                assert resp.header("transfer-encoding") is None, resp
            else:
                assert resp.header("transfer-encoding") == "chunked", resp
                assert resp.header("content-length") is None, resp
            # The client stops reading for a second: the upstream must be held back.
            time.sleep(1.0)
            with up.cond:
                ahead = up.sent
            print(f"download ({framing}): upstream {ahead / MiB:.1f} MiB ahead while the "
                  f"client stalled")
            assert ahead < IN_FLIGHT, (
                f"the upstream sent {ahead} bytes while the client read nothing: "
                "wsgate does not apply backpressure")
            start = time.monotonic()
            h = hashlib.sha256()
            n = 0
            for piece in iter_body(sr, resp.headers):
                h.update(piece)
                n += len(piece)
            elapsed = time.monotonic() - start
    assert n == BIG
    assert h.hexdigest() == pattern_sha256(BIG)
    print(f"download ({framing}): {BIG / 1e6:.0f} MB in {elapsed:.1f} s")
    rss.check(f"download ({framing})")


# ---------------------------------------------------------------------------------------------
# 3. 100 MB uploads, Expect: 100-continue
# ---------------------------------------------------------------------------------------------


def stalling_echo(stall):
    """echo, but waiting `stall` seconds after the head before reading the body."""
    def handler(ex):
        time.sleep(stall)
        return echo(ex)
    return handler


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_100_mb_upload_is_intact_with_backpressure(wsgate, upstream, framing):
    stall = 1.5
    up = upstream(stalling_echo(stall), rcvbuf=256 * 1024)
    srv = proxy(wsgate, up, route={"max_body_size": 0}, server={"workers": 1})
    if framing == "length":
        headers = [("Content-Length", str(BIG))]
    else:
        headers = [("Transfer-Encoding", "chunked")]
    headers.append(("Content-Type", "application/octet-stream"))
    head = request("POST", "/api/upload", headers=headers)
    progress = {"sent": 0, "error": None}

    def send_body(s):
        try:
            s.sendall(head)
            k = 0
            for piece in pattern(BIG):
                if framing == "length":
                    s.sendall(piece)
                else:  # two chunks per piece, cut at a varying place
                    cut = (k * 104729) % len(piece) or 1
                    for part in (piece[:cut], piece[cut:]):
                        if part:
                            s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
                    k += 1
                progress["sent"] += len(piece)
            if framing == "chunked":
                s.sendall(b"0\r\n\r\n")
        except OSError as e:
            progress["error"] = e

    with RssPeak(srv) as rss:
        with connect(srv, timeout=15, sndbuf=256 * 1024) as s:
            sender = threading.Thread(target=send_body, args=(s,), daemon=True)
            sender.start()
            assert up.wait_requests(1, timeout=5), "the request head never reached the upstream"
            time.sleep(stall - 0.5)  # the upstream reads nothing meanwhile
            ahead = progress["sent"]
            print(f"upload ({framing}): client {ahead / MiB:.1f} MiB ahead while the upstream "
                  f"stalled")
            assert ahead < IN_FLIGHT, (
                f"the client got {ahead} bytes out while the upstream read nothing: "
                "wsgate does not apply backpressure")
            sender.join(60)
            assert not sender.is_alive(), "upload did not finish within 60 s"
            assert progress["error"] is None, progress["error"]
            resp = read_response(Reader(s))
    got = echoed(resp)
    assert got["body_len"] == BIG
    assert got["body_sha256"] == pattern_sha256(BIG)
    h = got["headers"]
    if framing == "length":  # Content-Length stays Content-Length...
        assert header_values(h, "content-length") == [str(BIG)], h
        assert not header_values(h, "transfer-encoding"), h
    else:  # ...and chunked stays chunked
        assert has_token(h, "transfer-encoding", "chunked"), h
        assert not header_values(h, "content-length"), h
    rss.check(f"upload ({framing})")


def test_expect_100_continue_is_answered_by_wsgate(wsgate, upstream):
    up = upstream(echo)
    dead = ({"path": "/dead", "kind": "proxy", "upstream": "dead"}, "dead",
            {"servers": [f"127.0.0.1:{free_port()}"]})
    srv = proxy(wsgate, up, extra=[dead])
    body = next(pattern(100_000))
    with connect(srv) as s:
        reader = Reader(s)
        s.sendall(request("POST", "/api/upload", headers=[
            ("Content-Length", str(len(body))), ("Expect", "100-continue")]))
        interim = read_response(reader)  # the body is not sent before this arrives
        assert interim.status == 100, interim
        assert interim.version == "1.1", interim
        s.sendall(body)
        got = echoed(read_response(reader))
        assert got["body_len"] == len(body)
        assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert not header_values(got["headers"], "expect"), got["headers"]
        assert header_values(got["headers"], "content-length") == [str(len(body))]
    # No upstream to connect to: the final answer comes without a 100 first.
    with connect(srv) as s:
        s.sendall(request("POST", "/dead/x", headers=[
            ("Content-Length", "10"), ("Expect", "100-continue")]))
        resp = read_response(Reader(s))
        assert resp.status == 502, resp


# ---------------------------------------------------------------------------------------------
# 4. max_body_size
# ---------------------------------------------------------------------------------------------


def test_body_over_max_body_size_is_413_and_not_forwarded(wsgate, upstream):
    up = upstream(echo)
    dflt = ({"path": "/dflt", "kind": "proxy", "upstream": "app2"}, "app2",
            {"servers": [up.address]})
    srv = proxy(wsgate, up, route={"max_body_size": "1k"}, extra=[dflt])
    resp, _ = fetch(srv, request("POST", "/api/ok", body=b"a" * 1024))
    assert echoed(resp)["body_len"] == 1024  # exactly the limit passes
    resp, _ = fetch(srv, request("POST", "/api/over", body=b"a" * 1025))
    assert resp.status == 413, resp
    # With Expect the 413 comes instead of a 100 (the client sends no body).
    with connect(srv) as s:
        s.sendall(request("POST", "/api/over-expect", headers=[
            ("Content-Length", "1025"), ("Expect", "100-continue")]))
        resp = read_response(Reader(s))
        assert resp.status == 413, resp
    # The route without its own limit has [server] max_body_bytes (1 MiB): the head suffices.
    with connect(srv) as s:
        s.sendall(request("PUT", "/dflt/big", headers=[("Content-Length", str(MiB + 1))]))
        resp = read_response(Reader(s))
        assert resp.status == 413, resp
    resp, _ = fetch(srv, request("PUT", "/dflt/fits", body=b"b" * MiB), timeout=10)
    assert echoed(resp)["body_len"] == MiB
    seen = [r.target for r in up.snapshot()]
    assert seen == ["/api/ok", "/dflt/fits"], f"refused requests reached the upstream: {seen}"


# ---------------------------------------------------------------------------------------------
# 5. Upstream keep-alive, Connection: close, retry on a dead reused connection
# ---------------------------------------------------------------------------------------------


def test_keepalive_reuses_one_upstream_connection_and_zero_disables_it(wsgate, upstream):
    pooled = upstream(echo, name="pooled")
    fresh = upstream(echo, name="fresh")
    nka = ({"path": "/nka", "kind": "proxy", "upstream": "nka"}, "nka",
           {"servers": [fresh.address], "keepalive": 0})
    srv = proxy(wsgate, pooled, upstream={"keepalive": 4}, server={"workers": 1}, extra=[nka])
    # Five sequential requests, each from its own client connection.
    for i in range(5):
        resp, _ = fetch(srv, request("GET", f"/api/{i}"))
        assert echoed(resp)["target"] == f"/api/{i}"
    # Five more on one client connection.
    with connect(srv) as s:
        reader = Reader(s)
        for i in range(5):
            s.sendall(request("GET", f"/api/same/{i}"))
            assert echoed(read_response(reader))["target"] == f"/api/same/{i}"
    reqs = pooled.snapshot()
    assert len(reqs) == 10
    assert pooled.accepted == 1, f"{pooled.accepted} upstream connections for 10 requests"
    assert len({r.peer_port for r in reqs}) == 1
    assert [r.seq for r in reqs] == list(range(10))
    # keepalive = 0: a new upstream connection for every request.
    for i in range(5):
        resp, _ = fetch(srv, request("GET", f"/nka/{i}"))
        assert echoed(resp)["target"] == f"/nka/{i}"
    reqs = fresh.snapshot()
    assert len(reqs) == 5
    assert fresh.accepted == 5, f"{fresh.accepted} upstream connections for 5 requests"
    assert len({r.peer_port for r in reqs}) == 5
    assert all(r.seq == 0 for r in reqs)


def test_upstream_connection_close_is_not_reused(wsgate, upstream):
    reused = threading.Event()

    def handler(ex):
        ex.read_body()
        if ex.req.path == "/api/bye":
            ex.respond(200, [("Connection", "close")], b"bye\n")
            # Announced close but the FIN comes late: a request sent here meanwhile means the
            # proxy reused a connection it was told is closing.
            ex.conn.settimeout(2.0)
            try:
                if ex.conn.recv(65536):
                    reused.set()
            except OSError:
                pass
            return False
        ex.respond(200, [], b"hi\n")

    up = upstream(handler)
    srv = proxy(wsgate, up, upstream={"keepalive": 4}, server={"workers": 1})
    resp, _ = fetch(srv, request("GET", "/api/bye"))
    assert resp.status == 200 and resp.body == b"bye\n", resp
    resp, took = fetch(srv, request("GET", "/api/next"))
    assert resp.status == 200 and resp.body == b"hi\n", resp
    assert not reused.is_set(), "a request was sent on an upstream connection after its close"
    assert took < 1.5, f"the next request took {took:.1f} s"
    assert up.accepted == 2


def test_get_is_retried_after_a_dead_reused_connection_post_is_not(wsgate, upstream):
    def handler(ex):  # answers the first request of each connection, drops it at the second
        ex.read_body()
        if ex.req.seq > 0:
            ex.close()
            return False
        ex.respond(200, [], ex.req.method.encode() + b" ok\n")

    up = upstream(handler)
    srv = proxy(wsgate, up, upstream={"keepalive": 4}, server={"workers": 1})
    resp, _ = fetch(srv, request("GET", "/api/1"))
    assert resp.status == 200, resp
    # The pooled connection dies when it gets this request, before any response byte.
    resp, took = fetch(srv, request("GET", "/api/2"))
    assert resp.status == 200 and resp.body == b"GET ok\n", resp
    reqs = up.snapshot()
    assert [(r.target, r.seq) for r in reqs] == [("/api/1", 0), ("/api/2", 1), ("/api/2", 0)]
    assert took < 2, f"the retried GET took {took:.1f} s"
    # A POST with a body is never sent twice. Whether it went out on the pooled connection
    # (which then dies: 502) or on a new one (200), the upstream sees it exactly once.
    resp, _ = fetch(srv, request("POST", "/api/post", body=b"hello"))
    up.wait_requests(4, timeout=2)
    time.sleep(0.3)  # a retry, if any, would come now
    posts = [r for r in up.snapshot() if r.method == "POST"]
    assert len(posts) == 1, f"the POST reached the upstream {len(posts)} times: {posts}"
    if posts[0].seq > 0:
        assert resp.status == 502, resp
    else:
        assert resp.status == 200 and resp.body == b"POST ok\n", resp


# ---------------------------------------------------------------------------------------------
# 6./7. 502 and 504
# ---------------------------------------------------------------------------------------------


def assert_error(resp, status, text):
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").startswith("text/plain"), resp
    assert resp.body.startswith(text.encode()), resp


def test_bad_gateway_for_refused_closed_and_garbage_upstreams(wsgate, upstream):
    def closer(ex):  # reads the request, closes without a byte of answer
        ex.read_body()
        ex.close()
        return False

    def garbage(ex):  # not HTTP; then holds the connection open
        ex.read_body()
        ex.send(b"this is not http at all\r\n\r\n")
        ex.upstream.stop.wait(3)
        return False

    def bad_length(ex):
        ex.read_body()
        ex.send(b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\nhello world!")
        ex.upstream.stop.wait(3)
        return False

    closing = upstream(closer)
    junk = upstream(garbage)
    badlen = upstream(bad_length)
    extra = [({"path": f"/{name}", "kind": "proxy", "upstream": name}, name,
              {"servers": [addr]})
             for name, addr in (("both-dead", f"127.0.0.1:{free_port()}"),
                                ("closes", closing.address), ("junk", junk.address),
                                ("badlen", badlen.address))]
    dead = extra[0][2]["servers"]
    while len(dead) < 2:
        p = f"127.0.0.1:{free_port()}"
        if p not in dead:
            dead.append(p)
    srv = proxy(wsgate, f"127.0.0.1:{free_port()}", extra=extra)
    for path in ("/api/x", "/api/x", "/api/x", "/both-dead/y", "/both-dead/y"):
        resp, took = fetch(srv, request("GET", path))
        assert_error(resp, 502, "502 Bad Gateway")
        assert took < 1, f"502 for a dead upstream took {took:.2f} s"
    for path, up in (("/closes/z", closing), ("/junk/z", junk), ("/badlen/z", badlen)):
        resp, took = fetch(srv, request("GET", path))
        assert_error(resp, 502, "502 Bad Gateway")
        assert took < 2, f"502 for {path} took {took:.2f} s"
        assert up.snapshot(), f"{path}: the upstream never got the request"


def test_gateway_timeout_when_the_head_is_late(wsgate, upstream):
    def silent(ex):  # reads the request and never answers
        ex.read_body()
        ex.upstream.stop.wait(10)
        return False

    up = upstream(silent)
    srv = proxy(wsgate, up, route={"response_timeout": "1s"})
    resp, took = fetch(srv, request("GET", "/api/slow"), timeout=6)
    assert_error(resp, 504, "504 Gateway Timeout")
    assert 0.9 <= took <= 3, f"504 after {took:.2f} s (response_timeout = 1s)"


def test_read_timeout_cuts_a_response_that_stops_midway(wsgate, upstream):
    def stalls_midway(ex):
        ex.read_body()
        ex.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        ex.upstream.stop.wait(10)
        return False

    up = upstream(stalls_midway)
    srv = proxy(wsgate, up, route={"read_timeout": "1s"})
    start = time.monotonic()
    with connect(srv, timeout=6) as s:
        s.sendall(request("GET", "/api/stall"))
        reader = Reader(s)
        resp = read_response(reader, head_request=True)
        assert resp.status == 200 and resp.header("content-length") == "1000", resp
        got = reader.read_to_eof()  # the client connection is cut...
        took = time.monotonic() - start
    assert got == b"x" * 10, got  # ...after the 10 bytes that came, not padded to 1000
    assert 0.9 <= took <= 3, f"the connection was cut after {took:.2f} s (read_timeout = 1s)"


# ---------------------------------------------------------------------------------------------
# 8. Balancing and failover
# ---------------------------------------------------------------------------------------------


def counts(ups):
    return [len(u.snapshot()) for u in ups]


def get_many(srv, path, n):
    with connect(srv) as s:
        reader = Reader(s)
        for i in range(n):
            s.sendall(request("GET", f"{path}/{i}"))
            resp = read_response(reader)
            assert resp.status == 200, (i, resp)


def test_balance_round_robin_least_conn_ip_hash(wsgate, upstream):
    ups = [upstream(echo, name=f"u{i}") for i in range(3)]
    addrs = [u.address for u in ups]
    extra = [({"path": f"/{mode}", "kind": "proxy", "upstream": mode}, mode,
              {"servers": addrs, "balance": mode, "keepalive": 4})
             for mode in ("least_conn", "ip_hash")]
    srv = proxy(wsgate, *addrs, path="/rr", upstream={"balance": "round_robin", "keepalive": 4},
                server={"workers": 1}, extra=extra)
    get_many(srv, "/rr", 30)
    assert counts(ups) == [10, 10, 10]
    before = counts(ups)
    get_many(srv, "/least_conn", 30)
    grew = [c - b for c, b in zip(counts(ups), before)]
    assert sum(grew) == 30 and all(g > 0 for g in grew), f"least_conn split {grew}"
    before = counts(ups)
    get_many(srv, "/ip_hash", 30)
    grew = [c - b for c, b in zip(counts(ups), before)]
    assert sorted(grew) == [0, 0, 30], f"ip_hash split {grew}"


@pytest.mark.parametrize("keepalive", [0, 4])
def test_failover_when_a_server_dies(wsgate, upstream, keepalive):
    ups = [upstream(echo, name=f"u{i}") for i in range(3)]
    srv = proxy(wsgate, *ups, upstream={"keepalive": keepalive}, server={"workers": 1})
    get_many(srv, "/api/warm", 6)
    assert counts(ups) == [2, 2, 2]
    ups[1].close()  # listener and every connection it held
    dead_count = counts(ups)[1]
    for i in range(30):  # a new client connection each time, each must succeed
        resp, took = fetch(srv, request("GET", f"/api/after/{i}"))
        assert resp.status == 200, (i, resp)
        assert took < 2, f"request {i} took {took:.2f} s"
    after = counts(ups)
    assert after[1] == dead_count
    assert after[0] + after[2] == 4 + 30, after


# ---------------------------------------------------------------------------------------------
# 9. HEAD, 204, 304
# ---------------------------------------------------------------------------------------------


def test_head_204_304_have_no_body_and_the_connection_stays_in_sync(wsgate, upstream):
    def handler(ex):
        ex.read_body()
        p = ex.req.path
        if p == "/api/head":
            if ex.req.method == "HEAD":
                ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: 1234\r\n\r\n")
            else:
                ex.respond(200, [("Content-Type", "text/plain")], b"h" * 1234)
        elif p == "/api/204":
            ex.send(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
        elif p == "/api/304":
            # A 304 may carry the Content-Length of the representation it stands for.
            ex.send(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5000\r\n\r\n')
        else:
            ex.respond(200, [], b"after\n")

    up = upstream(handler)
    srv = proxy(wsgate, up, upstream={"keepalive": 4}, server={"workers": 1})
    with connect(srv) as s:
        reader = Reader(s)
        s.sendall(request("HEAD", "/api/head"))
        resp = read_response(reader, head_request=True)
        assert resp.status == 200, resp
        assert resp.header("content-length") == "1234", resp
        assert resp.header("transfer-encoding") is None, resp
        s.sendall(request("GET", "/api/204"))
        resp = read_response(reader)
        assert resp.status == 204 and resp.header("x-a") == "1", resp
        assert resp.header("transfer-encoding") is None, resp
        assert resp.header("content-length") in (None, "0"), resp
        s.sendall(request("GET", "/api/304", headers=[("If-None-Match", '"v1"')]))
        resp = read_response(reader)
        assert resp.status == 304 and resp.header("etag") == '"v1"', resp
        assert resp.header("transfer-encoding") is None, resp
        s.sendall(request("GET", "/api/head"))
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"h" * 1234, resp
        s.sendall(request("GET", "/api/plain"))
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"after\n", resp
        # Nothing stray followed any of them.
        assert reader.buf == b"", reader.buf
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(1)
    methods = [(r.method, r.path) for r in up.snapshot()]
    assert methods == [("HEAD", "/api/head"), ("GET", "/api/204"), ("GET", "/api/304"),
                       ("GET", "/api/head"), ("GET", "/api/plain")]
    assert up.accepted == 1, "the upstream connection was not reused after a bodyless response"
    assert header_values(up.snapshot()[2].headers, "if-none-match") == ['"v1"']


# ---------------------------------------------------------------------------------------------
# 10. An until-close upstream body
# ---------------------------------------------------------------------------------------------


def test_until_close_body_reaches_http11_chunked_and_http10_by_close(wsgate, upstream):
    def handler(ex):
        if ex.req.path == "/api/dl":
            return download(ex)
        ex.read_body()
        ex.respond(200, [], b"after\n")

    size = 3 * MiB + 12345
    want = hashlib.sha256(b"".join(pattern(size))).hexdigest()
    up = upstream(handler)
    srv = proxy(wsgate, up, upstream={"keepalive": 4})
    with connect(srv) as s:
        reader = Reader(s)
        s.sendall(request("GET", f"/api/dl?size={size}&framing=close"))
        resp = read_response(reader)
        assert resp.status == 200, resp
        assert resp.header("transfer-encoding") == "chunked", resp
        assert resp.header("content-length") is None, resp
        assert len(resp.body) == size and hashlib.sha256(resp.body).hexdigest() == want
        # Chunked framing keeps the client connection usable.
        s.sendall(request("GET", "/api/plain"))
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"after\n", resp
    # An HTTP/1.0 client cannot take chunked: the body ends with the connection.
    with connect(srv) as s:
        s.sendall(request("GET", f"/api/dl?size={size}&framing=close", version="1.0"))
        reader = Reader(s)
        resp = read_response(reader, head_request=True)
        assert resp.status == 200, resp
        assert resp.header("transfer-encoding") is None, resp
        body = reader.read_to_eof()
        assert len(body) == size and hashlib.sha256(body).hexdigest() == want


# ---------------------------------------------------------------------------------------------
# 11. Regressions: an early answer, a stalled body, no reuse after an early answer
# ---------------------------------------------------------------------------------------------


def test_early_answer_while_the_upload_is_paused_lets_the_client_finish(wsgate, upstream):
    """The upstream answers at once, ends its response later and never reads the body. wsgate
    paused the client (the upstream took nothing); once the response has ended, the rest of the
    body must be read and discarded, not left unread with the connection stuck for ever."""
    def handler(ex):
        ex.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        time.sleep(1.0)
        ex.send(b"ok")
        time.sleep(5.0)  # never reads the body; holds the connection
        ex.close()

    up = upstream(handler, rcvbuf=64 * 1024)
    srv = proxy(wsgate, up, route={"max_body_size": 0}, upstream={"keepalive": 4},
                server={"workers": 1})
    total = 40 * MiB
    with connect(srv, timeout=15) as s:
        s.sendall(request("POST", "/api/up", headers=[("Content-Length", str(total))]))
        chunk = b"x" * (1 << 20)
        deadline = time.monotonic() + 15
        sent = 0
        while sent < total:
            assert time.monotonic() < deadline, f"stuck after {sent} of {total} bytes"
            s.sendall(chunk)
            sent += len(chunk)
        resp = read_response(Reader(s))
        assert resp.status == 200 and resp.body == b"ok", resp
    srv.wait_log(r'"POST /api/up HTTP/1\.1" 200 ', timeout=10)


def test_a_stalled_request_body_gets_408(wsgate, upstream):
    def handler(ex):
        ex.read_body()
        ex.respond(200, [], b"never\n")

    up = upstream(handler)
    srv = proxy(wsgate, up, route={"read_timeout": "1s"})
    with connect(srv, timeout=10) as s:
        s.sendall(request("POST", "/api/slow", headers=[("Content-Length", "1000000")]) +
                  b"only a few bytes")
        started = time.monotonic()
        resp = read_response(Reader(s))
        elapsed = time.monotonic() - started
    assert resp.status == 408, resp
    assert 0.9 <= elapsed < 4, elapsed


def test_no_reuse_of_a_connection_that_answered_before_the_request_was_sent(wsgate, upstream):
    """The upstream starts its answer while the request body is still arriving and ends it after
    the request is complete, without reading the body: on reuse, the rest of the body would be
    read as the next request (so the next client would get the answer to a request it never
    sent). That connection must not go back to the pool."""
    def handler(ex):
        if ex.req.path == "/api/early":
            ex.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            time.sleep(1.0)
            ex.send(b"ok")
            return  # keep-alive, with the body unread
        try:
            ex.read_body()
            ex.respond(200, [], f"answer to {ex.req.path}\n".encode())
        except OSError:
            pass  # wsgate closed the connection, as it should

    up = upstream(handler)
    srv = proxy(wsgate, up, upstream={"keepalive": 4}, server={"workers": 1})
    body = b"GET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n" * 100
    with connect(srv) as s:
        s.sendall(request("POST", "/api/early", headers=[("Content-Length", str(len(body)))]) +
                  body[: len(body) // 2])
        time.sleep(0.4)  # the response head is out before the request is complete
        s.sendall(body[len(body) // 2:])
        resp = read_response(Reader(s))
        assert resp.status == 200 and resp.body == b"ok", resp
    time.sleep(0.3)
    with connect(srv) as s:
        s.sendall(request("GET", "/api/next"))
        resp = read_response(Reader(s))
        assert resp.status == 200 and resp.body == b"answer to /api/next\n", resp
    reqs = up.snapshot()
    early = [r for r in reqs if r.path == "/api/early"]
    nxt = [r for r in reqs if r.path == "/api/next"]
    assert len(early) == 1 and len(nxt) == 1, [r.path for r in reqs]
    assert nxt[0].peer_port != early[0].peer_port, "the early-answer connection was reused"


def test_the_rest_of_an_unwanted_body_must_arrive_within_header_timeout(wsgate, upstream):
    """After an early answer the rest of the body is read and discarded; a client that stops
    sending it does not hold the connection for ever."""
    def handler(ex):
        ex.respond(200, [], b"ok")  # answers at once, reads nothing
        time.sleep(3)

    up = upstream(handler)
    srv = proxy(wsgate, up, server={"header_timeout": "1s"})
    with connect(srv, timeout=10) as s:
        s.sendall(request("POST", "/api/up", headers=[("Content-Length", "1000000")]) + b"x" * 10)
        reader = Reader(s)
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"ok", resp
        started = time.monotonic()
        assert reader.at_eof(timeout=5), "the connection stayed open"
        assert time.monotonic() - started < 4
