"""10,000 idle WebSocket connections held at once: the server keeps them all, its resident memory
per connection stays within the budget (4 KiB), and it still serves after they close.

The clients are hand-made handshakes over plain non-blocking sockets (selectors), spread over
CLIENT_PROCS processes because one process may hold at most 20,000 files here. The measured
figure is printed and, if $WSGATE_RSS_REPORT is set, written to that file."""

import asyncio
import base64
import multiprocessing
import os
import resource
import selectors
import socket
import time

import websockets

from conftest import SANITIZED

CONNECTIONS = 10_000
CLIENT_PROCS = 4
RSS_BUDGET_BYTES = 4096
IN_FLIGHT = 200  # handshakes under way at once per client process
OPEN_DEADLINE = 40.0  # seconds for all connections to be open


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def open_websockets(port, count, conn):
    """Child process: opens `count` WebSockets, reports ("ready", n) or ("error", text), waits
    for "close", closes everything."""
    try:
        raise_nofile()
        sel = selectors.DefaultSelector()
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
        done, started, pending = [], 0, {}
        deadline = time.monotonic() + OPEN_DEADLINE

        def start_one():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            pending[s] = b""
            sel.register(s, selectors.EVENT_WRITE, "connect")

        while len(done) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(done)} of {count} open after {OPEN_DEADLINE} s")
            while started < count and len(pending) < IN_FLIGHT:
                start_one()
                started += 1
            for k, ev in sel.select(timeout=1.0):
                s = k.fileobj
                if k.data == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, f"connect: {os.strerror(err)}")
                    s.send(request)  # small enough for an empty socket buffer
                    sel.modify(s, selectors.EVENT_READ, "response")
                    continue
                data = s.recv(4096)
                if not data:
                    raise ConnectionError("server closed during the handshake")
                pending[s] += data
                if b"\r\n\r\n" in pending[s]:
                    if not pending[s].startswith(b"HTTP/1.1 101 "):
                        raise AssertionError(f"not a 101: {pending[s][:200]!r}")
                    sel.unregister(s)
                    del pending[s]
                    done.append(s)
        conn.send(("ready", len(done)))
        assert conn.recv() == "close"
        for s in done:
            s.close()
        conn.send(("closed", len(done)))
    except BaseException as e:  # report everything to the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))


def server_fds(srv):
    return len(os.listdir(f"/proc/{srv.proc.pid}/fd"))


def echo_once(srv, text):
    async def go():
        async with websockets.connect(srv.ws_url("/echo"), ping_interval=None, open_timeout=5,
                                      close_timeout=5) as ws:
            await ws.send(text)
            return await ws.recv()
    return asyncio.run(asyncio.wait_for(go(), 10))


def test_ten_thousand_idle_websockets(wsgate):
    soft, _hard = raise_nofile()
    assert soft >= CONNECTIONS // CLIENT_PROCS + 100, f"client file limit {soft} too low"
    srv = wsgate([{"path": "/echo", "kind": "echo", "ping_interval": "1h"}],
                 server={"workers": 2, "access_log": "off"}, listen_extra={"backlog": 4096})
    t0 = time.monotonic()

    # Warm up: both workers have accepted, upgraded and freed sessions, so the baseline holds
    # their thread arenas and buffers, and the figure below is the cost of holding connections.
    for i in range(20):
        assert echo_once(srv, f"warm {i}") == f"warm {i}"
    time.sleep(0.3)
    base_rss = srv.rss_kib()
    base_fds = server_fds(srv)

    ctx = multiprocessing.get_context("fork")
    per = CONNECTIONS // CLIENT_PROCS
    pipes, procs = [], []
    for _ in range(CLIENT_PROCS):
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(target=open_websockets, args=(srv.port, per, child_end), daemon=True)
        p.start()
        pipes.append(parent_end)
        procs.append(p)
    try:
        opened = 0
        for pipe in pipes:
            assert pipe.poll(OPEN_DEADLINE + 10), "a client process did not report"
            kind, value = pipe.recv()
            assert kind == "ready", value
            opened += value
        assert opened == CONNECTIONS
        open_s = time.monotonic() - t0
        # The server holds every one of them.
        deadline = time.monotonic() + 5
        while server_fds(srv) - base_fds < CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.1)
        held = server_fds(srv) - base_fds
        assert held >= CONNECTIONS, f"server holds {held} connections, expected {CONNECTIONS}"
        time.sleep(0.5)
        open_rss = srv.rss_kib()
        per_conn = (open_rss - base_rss) * 1024 / CONNECTIONS
        line = (f"wsgate RSS: {base_rss} KiB idle, {open_rss} KiB with {CONNECTIONS} idle "
                f"WebSockets: {per_conn:.0f} bytes per connection (budget {RSS_BUDGET_BYTES}); "
                f"opened in {open_s:.1f} s")
        print(line)
        report = os.environ.get("WSGATE_RSS_REPORT")
        if report:
            with open(report, "w") as f:
                f.write(line + "\n")
        if not SANITIZED:  # the budget is for the normal build (see conftest.SANITIZED)
            assert per_conn <= RSS_BUDGET_BYTES, line
    finally:
        for pipe in pipes:
            try:
                pipe.send("close")
            except OSError:
                pass
        for pipe in pipes:
            if pipe.poll(20):
                pipe.recv()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()

    # All closed: the server drops them and still serves.
    deadline = time.monotonic() + 10
    while server_fds(srv) - base_fds > 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_fds(srv) - base_fds <= 10, f"{server_fds(srv) - base_fds} connections left"
    assert echo_once(srv, "after the storm") == "after the storm"
    assert time.monotonic() - t0 < 60
