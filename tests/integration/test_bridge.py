"""kind = "bridge": WebSocket <-> raw TCP, driven by the Python `websockets` client (as noVNC
would be, with the `binary` and `base64` subprotocols) against TCP backends in this process:
data integrity (1 GiB with SHA-256 on both sides), a backend that speaks first, the close
mapping (backend EOF -> 1000, reset -> 1011, client close -> backend EOF after every byte),
502 before any 101 for a dead backend, failover and balancing across an upstream pool, token
targets (inline, path segment, a targets file re-read on change), text policy, and bounded
memory against a backend that stops reading."""

import asyncio
import base64
import hashlib
import json
import os
import re
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

from backends import TcpBackend
from conftest import SANITIZED, free_port, run_async, ws_connect

MiB = 1 << 20


def run(coro, timeout=60):
    return run_async(coro, timeout)


def connect(srv, path="/tcp", **kw):
    return ws_connect(srv, path, **kw)


@pytest.fixture
def backend():
    made = []

    def make(mode, **kw):
        b = TcpBackend(mode, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def bridge_to(*servers, route=None, upstream=None):
    r = {"path": "/tcp", "kind": "bridge", "upstream": "be", "max_message_size": "32m"}
    r.update(route or {})
    u = {"servers": list(servers)}
    u.update(upstream or {})
    return [r], {"be": u}


async def read_bytes(ws, n):
    """Collects binary messages until `n` bytes have arrived (TCP has no message boundaries)."""
    got = bytearray()
    while len(got) < n:
        msg = await ws.recv()
        assert isinstance(msg, bytes), f"expected binary, got {type(msg).__name__}"
        got += msg
    return bytes(got)


def test_binary_round_trip_through_tcp_echo(wsgate, backend):
    be = backend("echo")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv, subprotocols=["binary"]) as ws:
            assert ws.subprotocol == "binary"
            for size in (1, 125, 126, 65536, 3 * MiB):
                data = os.urandom(size)
                await ws.send(data)
                assert await read_bytes(ws, size) == data
    run(go())
    srv.wait_log(r'"GET /tcp HTTP/1.1" 101 .*ws_close=1000 .* upstream="be/' +
                 re.escape(be.address) + '"')


def test_no_subprotocol_means_binary_and_text_bytes_are_forwarded(wsgate, backend):
    be = backend("echo")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv) as ws:
            assert ws.subprotocol is None
            await ws.send("héllo")  # text policy "bytes": its UTF-8 bytes go to the backend
            assert await read_bytes(ws, len("héllo".encode())) == "héllo".encode()
    run(go())


def test_base64_subprotocol_both_ways(wsgate, backend):
    be = backend("banner", banner=b"RFB 003.008\n")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        # noVNC's order of preference; the server prefers binary, so offer base64 alone.
        async with connect(srv, subprotocols=["base64"]) as ws:
            assert ws.subprotocol == "base64"
            first = await ws.recv()
            assert isinstance(first, str)
            assert base64.b64decode(first) == b"RFB 003.008\n"
            data = os.urandom(100_000)
            await ws.send(base64.b64encode(data).decode())
            got = b""
            while len(got) < len(data):
                msg = await ws.recv()
                assert isinstance(msg, str)
                got += base64.b64decode(msg, validate=True)
            assert got == data
            # Not base64: the session ends with 1007.
            await ws.send("not base64!")
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1007
    run(go())


def test_server_prefers_binary_when_both_are_offered(wsgate, backend):
    be = backend("echo")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv, subprotocols=["base64", "binary"]) as ws:
            assert ws.subprotocol == "binary"
    run(go())


def test_unix_socket_backends_for_upstreams_and_targets(wsgate, backend, tmp_path):
    be = backend("banner", banner=b"U", unix_path=str(tmp_path / "be.sock"))
    routes, ups = bridge_to(be.address)
    routes.append({"path": "/t", "kind": "bridge", "targets": {"u": be.address}})
    routes.append({"path": "/gone", "kind": "bridge",
                   "targets": {"x": f"unix:{tmp_path / 'missing.sock'}"}})
    srv = wsgate(routes, upstreams=ups)

    async def go():
        for path in ("/tcp", "/t/u"):
            async with connect(srv, path) as ws:
                assert await read_bytes(ws, 1) == b"U"
                await ws.send(b"ping")
                assert await read_bytes(ws, 4) == b"ping"
        with pytest.raises(InvalidStatusCode) as e:
            async with connect(srv, "/gone/x"):
                pass
        assert e.value.status_code == 502
    run(go())


def test_backend_that_speaks_first_is_heard(wsgate, backend):
    be = backend("banner", banner=b"RFB 003.008\n")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv, subprotocols=["binary"]) as ws:
            assert await read_bytes(ws, 12) == b"RFB 003.008\n"
    run(go())


def test_text_reject_closes_1003(wsgate, backend):
    be = backend("echo")
    routes, ups = bridge_to(be.address, route={"text": "reject"})
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv) as ws:
            await ws.send("text")
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1003
    run(go())


def test_one_gib_reaches_the_backend_intact(wsgate, backend):
    be = backend("sink")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)
    total = (256 if SANITIZED else 1024) * MiB
    chunk = MiB

    async def go():
        h = hashlib.sha256()
        start = time.monotonic()
        async with connect(srv, subprotocols=["binary"]) as ws:
            block = os.urandom(16 * MiB)
            sent = 0
            i = 0
            while sent < total:
                # Vary every chunk so a reordering or a repeated chunk changes the digest.
                off = (i * 7919) % (len(block) - chunk)
                piece = i.to_bytes(8, "little") + block[off + 8:off + chunk]
                h.update(piece)
                await ws.send(piece)
                sent += len(piece)
                i += 1
        elapsed = time.monotonic() - start
        return h.hexdigest(), elapsed

    want, elapsed = run(go(), timeout=240)
    results = be.wait_results(1, timeout=30)
    assert results, "the backend never saw the end of the stream"
    n, got = results[0]
    assert n == total
    assert got == want
    print(f"bridge: {total // MiB} MiB to a TCP sink in {elapsed:.1f} s "
          f"({total / MiB / elapsed:.0f} MiB/s)")


def test_client_close_delivers_every_byte_then_eof(wsgate, backend):
    be = backend("sink")
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)
    data = os.urandom(8 * MiB)

    async def go():
        async with connect(srv) as ws:
            for i in range(0, len(data), 256 * 1024):
                await ws.send(data[i:i + 256 * 1024])
        # The close handshake completed: wsgate must still deliver what it had queued.
    run(go())
    results = be.wait_results(1, timeout=15)
    assert results and results[0] == (len(data), hashlib.sha256(data).hexdigest())


def test_backend_eof_closes_1000_after_its_data(wsgate, backend):
    be = backend("close", banner=b"bye\n" * 1000)
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv) as ws:
            assert await read_bytes(ws, 4000) == b"bye\n" * 1000
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1000
    run(go())


def test_backend_reset_closes_1011(wsgate, backend):
    be = backend("reset", reset_after=5)
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        async with connect(srv) as ws:
            await ws.send(b"hello")
            with pytest.raises(ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 5)
            assert e.value.rcvd.code == 1011
    run(go())
    srv.wait_log(r"backend connection failed")


def test_dead_backend_is_502_before_any_101(wsgate, backend):
    routes, ups = bridge_to(f"127.0.0.1:{free_port()}")  # nothing listens: refused
    srv = wsgate(routes, upstreams=ups)

    async def go():
        for _ in range(3):  # the second and third find the server out: 502 at once
            start = time.monotonic()
            with pytest.raises(InvalidStatusCode) as e:
                async with connect(srv):
                    pass
            assert e.value.status_code == 502
            assert time.monotonic() - start < 2
    run(go())
    srv.wait_log(r"connect failed")
    srv.wait_log(r"no live server")


def test_failover_to_the_next_server(wsgate, backend):
    live = backend("echo")
    routes, ups = bridge_to(f"127.0.0.1:{free_port()}", live.address)
    srv = wsgate(routes, upstreams=ups)

    async def go():
        for i in range(6):
            async with connect(srv) as ws:
                await ws.send(b"x%d" % i)
                assert await read_bytes(ws, 2) == b"x%d" % i
    run(go())
    assert live.accepted == 6


def test_round_robin_honours_weights_and_ip_hash_sticks(wsgate, backend):
    bes = [backend("echo") for _ in range(3)]
    servers = [bes[0].address, {"address": bes[1].address, "weight": 2}, bes[2].address]
    routes, ups = bridge_to(*servers, route={"path": "/rr"})
    routes2, ups2 = bridge_to(*[b.address for b in bes],
                              route={"path": "/sticky", "upstream": "sticky"},
                              upstream={"balance": "ip_hash"})
    ups["sticky"] = ups2["be"]
    # One worker: counters are per worker, so the exact split is only defined for one.
    srv = wsgate(routes + routes2, server={"workers": 1}, upstreams=ups)

    async def go(path, n):
        for _ in range(n):
            async with connect(srv, path) as ws:
                await ws.send(b"p")
                await read_bytes(ws, 1)
    run(go("/rr", 40))
    assert [b.accepted for b in bes] == [10, 20, 10]
    before = [b.accepted for b in bes]
    run(go("/sticky", 12))
    grew = [b.accepted - x for b, x in zip(bes, before)]
    assert sorted(grew) == [0, 0, 12], grew


def test_least_conn_prefers_the_idle_server(wsgate, backend):
    bes = [backend("echo") for _ in range(2)]
    routes, ups = bridge_to(*[b.address for b in bes], upstream={"balance": "least_conn"})
    srv = wsgate(routes, server={"workers": 1}, upstreams=ups)

    async def go():
        held = await connect(srv).__aenter__()  # one long session on one server
        try:
            await held.send(b"h")
            await read_bytes(held, 1)
            first = [b.accepted for b in bes]
            for _ in range(4):  # each short one goes to the other server
                async with connect(srv) as ws:
                    await ws.send(b"s")
                    await read_bytes(ws, 1)
            return first
        finally:
            await held.close()
    first = run(go())
    busy = first.index(1)
    assert bes[busy].accepted == 1 and bes[1 - busy].accepted == 4


def test_token_targets_inline_query_and_path(wsgate, backend):
    a = backend("banner", banner=b"A")
    b = backend("banner", banner=b"B")
    route = {"path": "/vnc", "kind": "bridge", "targets": {"vm-a": a.address, "vm-b": b.address}}
    srv = wsgate([route])

    async def go():
        async with connect(srv, "/vnc?token=vm-a") as ws:
            assert await read_bytes(ws, 1) == b"A"
        async with connect(srv, "/vnc/vm-b") as ws:
            assert await read_bytes(ws, 1) == b"B"
        for path, status in (("/vnc?token=nope", 404), ("/vnc", 400)):
            with pytest.raises(InvalidStatusCode) as e:
                async with connect(srv, path):
                    pass
            assert e.value.status_code == status
    run(go())


def test_json_access_log_names_the_backend(wsgate, backend):
    be = backend("echo")
    route = {"path": "/vnc", "kind": "bridge", "targets": {"t1": be.address}}
    srv = wsgate([route], server={"access_log_format": "json"})

    async def go():
        async with connect(srv, "/vnc/t1") as ws:
            await ws.send(b"abc")
            assert await read_bytes(ws, 3) == b"abc"
    run(go())
    line = srv.wait_log(r'\{"time".*"ws_close".*\}').group(0)
    rec = json.loads(line)
    assert rec["status"] == 101 and rec["ws_close"] == 1000
    assert rec["upstream"] == f"targets/{be.address}"
    assert rec["route"] == "/vnc" and rec["ws_messages_in"] == 1


def test_targets_file_is_reread_when_it_changes(wsgate, backend, tmp_path):
    a = backend("banner", banner=b"A")
    b = backend("banner", banner=b"B")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"# websockify format\nvm1: {a.address}\nbroken line\n")
    route = {"path": "/vnc", "kind": "bridge", "targets_file": str(tokens)}
    srv = wsgate([route])

    async def go():
        async with connect(srv, "/vnc?token=vm1") as ws:
            assert await read_bytes(ws, 1) == b"A"
        tokens.write_text(f"vm1: {b.address}\nvm2: {a.address}\n")
        os.utime(tokens, (time.time() + 5, time.time() + 5))  # a visible mtime change
        async with connect(srv, "/vnc?token=vm1") as ws:
            assert await read_bytes(ws, 1) == b"B"
        async with connect(srv, "/vnc/vm2") as ws:
            assert await read_bytes(ws, 1) == b"A"
    run(go())
    srv.wait_log(r"tokens.txt:3: expected 'token: host:port'")


def test_backend_that_stops_reading_bounds_memory(wsgate, backend):
    be = backend("stall", rcvbuf=65536)
    routes, ups = bridge_to(be.address)
    srv = wsgate(routes, upstreams=ups)
    base = srv.rss_kib()

    async def go():
        async with connect(srv) as ws:
            block = os.urandom(256 * 1024)
            sent = 0
            deadline = time.monotonic() + 4
            try:
                while time.monotonic() < deadline and sent < 512 * MiB:
                    await asyncio.wait_for(ws.send(block), 1)
                    sent += len(block)
            except asyncio.TimeoutError:
                pass  # the client is held back: what we want
            return sent
    sent = run(go())
    growth = srv.rss_kib() - base
    print(f"bridge to a stalled backend: client got {sent // 1024} KiB out, RSS grew {growth} KiB")
    assert sent < 64 * MiB, "wsgate kept reading from the client although the backend stalled"
    if not SANITIZED:
        assert growth < 16 * 1024, f"RSS grew by {growth} KiB"


def test_active_tcp_check_keeps_clients_off_a_dead_server(wsgate, backend):
    live = backend("echo")
    routes, ups = bridge_to(f"127.0.0.1:{free_port()}", live.address,
                            upstream={"health_check": {"type": "tcp", "interval": "200ms",
                                                       "timeout": "500ms", "fall": 1}})
    srv = wsgate(routes, upstreams=ups)
    srv.wait_log(r"health check failed 1 time\(s\) \(.*\), out of rotation")
    srv.wait_log(r"health check failed 1 time\(s\) \(.*\), out of rotation",
                 start=srv.log().index("out of rotation") + 1)  # both workers

    async def go():
        for i in range(6):
            async with connect(srv) as ws:
                await ws.send(b"%d" % i)
                assert await read_bytes(ws, 1) == b"%d" % i
    run(go())
    assert live.accepted >= 6
    assert "connect failed" not in srv.log(), "a client was sent to the dead server"


def test_active_http_check_follows_the_status(wsgate):
    import http.server
    import threading

    state = {"status": 503}

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(state["status"] if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        routes, ups = bridge_to(f"127.0.0.1:{httpd.server_address[1]}",
                                upstream={"health_check": {"type": "http", "path": "/healthz",
                                                           "interval": "200ms", "fall": 1,
                                                           "rise": 2}})
        srv = wsgate(routes, server={"workers": 1}, upstreams=ups)
        srv.wait_log(r"health check failed 1 time\(s\) \(status 503\)")

        async def status_of_upgrade():
            try:
                async with connect(srv) as ws:
                    await ws.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    got = await ws.recv()
                    return got.split(b"\r\n", 1)[0].decode()
            except InvalidStatusCode as e:
                return e.status_code
        assert run(status_of_upgrade()) == 502  # the only server is out: 502 at once
        state["status"] = 200
        srv.wait_log(r"health check passed, back in rotation")
        assert run(status_of_upgrade()) == "HTTP/1.0 200 OK"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_upstream_names_resolve_and_every_address_is_tried(wsgate, backend):
    # "localhost" may resolve to ::1 before 127.0.0.1; the backend listens on 127.0.0.1 only, so
    # a connect to ::1 must fall through to the next address of the same server. Re-resolution
    # runs every 200 ms meanwhile and must keep the pool working.
    be = backend("echo")
    routes, ups = bridge_to(f"localhost:{be.port}", upstream={"resolve_interval": "200ms"})
    srv = wsgate(routes, upstreams=ups)

    async def go():
        for i in range(5):
            async with connect(srv) as ws:
                await ws.send(b"n%d" % i)
                assert await read_bytes(ws, 2) == b"n%d" % i
            await asyncio.sleep(0.15)
    run(go())
    assert be.accepted == 5
    assert "out for" not in srv.log(), "a server was marked down although one address worked"
