"""Process lifecycle: graceful SIGTERM with open WebSockets (close 1001, exit 0), SIGHUP reload
(new routes for new connections, old sessions untouched; a broken file keeps the running
configuration), `--check`, start-up failures, and the command line."""

import asyncio
import signal
import socket
import subprocess
import time

import websockets

from conftest import (OP_TEXT, SHUTDOWN_WAIT, frame, http_exchange, make_config, read_close,
                      read_message, upgrade_request, ws_handshake, _require_binary)

ECHO = {"path": "/echo", "kind": "echo", "ping_interval": 60}
OTHER = {"path": "/other", "kind": "echo"}


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(srv, path="/echo"):
    return websockets.connect(srv.ws_url(path), ping_interval=None, open_timeout=5,
                              close_timeout=5)


def test_sigterm_closes_websockets_with_1001_and_exits_0(wsgate):
    srv = wsgate([ECHO])

    async def go():
        clients = [await connect(srv) for _ in range(3)]
        for i, ws in enumerate(clients):
            await ws.send(f"hello {i}")
            assert await ws.recv() == f"hello {i}"
        srv.signal(signal.SIGTERM)
        for ws in clients:
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1001, ws.close_code
            assert ws.close_reason == "server shutting down"
    run(go())
    code = srv.stop(SHUTDOWN_WAIT)
    assert code == 0, f"exit code {code}"
    log = srv.log()
    assert "shutting down" in log and "stopped" in log
    assert log.count("ws_close=1001") == 3, log


def test_sigterm_with_raw_clients_that_do_not_answer_close(wsgate):
    # Clients that never answer the close: the server gives up after close_timeout, well before
    # shutdown_timeout, and still exits 0.
    srv = wsgate([dict(ECHO, close_timeout="500ms")])
    socks = [ws_handshake(srv) for _ in range(3)]
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    for sock, reader in socks:
        code, reason = read_close(reader)
        assert (code, reason) == (1001, b"server shutting down")
    code = srv.stop(SHUTDOWN_WAIT)
    assert code == 0, f"exit code {code}"
    assert time.monotonic() - t0 < 3.0
    for sock, _ in socks:
        sock.close()


def test_sigterm_with_idle_http_connection_exits_promptly(wsgate):
    srv = wsgate([ECHO, {"path": "/", "kind": "static", "root": "www"}], files={"a.txt": "a"})
    resp, reader = http_exchange(srv, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200
    idle = srv.connect()  # connected, nothing sent
    t0 = time.monotonic()
    code = srv.stop(SHUTDOWN_WAIT)
    assert code == 0
    # Idle connections are closed at once (a 2 s linger for the client's FIN at most).
    assert time.monotonic() - t0 < 3.0, "idle connections delayed the shutdown"
    assert reader.at_eof(1.0)
    idle.close()


def test_sighup_adds_route_and_keeps_old_session(wsgate):
    srv = wsgate([ECHO])
    sock, reader = ws_handshake(srv)
    with sock:
        sock.sendall(frame(OP_TEXT, "before"))
        assert read_message(reader) == (OP_TEXT, b"before")
        resp, _ = http_exchange(srv, upgrade_request("/other"))
        assert resp.status == 404

        mark = len(srv.log())
        srv.write_config(make_config(srv.port, [ECHO, OTHER], srv.server_opts))
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload: 2 route\(s\) in force", start=mark)

        # New connections see the new route...
        sock2, reader2 = ws_handshake(srv, "/other")
        with sock2:
            sock2.sendall(frame(OP_TEXT, "new route"))
            assert read_message(reader2) == (OP_TEXT, b"new route")
        # ...on every worker (several connections land on both).
        for _ in range(8):
            s, r = ws_handshake(srv, "/other")
            s.close()
        # The old session keeps working.
        sock.sendall(frame(OP_TEXT, "after"))
        assert read_message(reader) == (OP_TEXT, b"after")


def test_sighup_removing_a_route_keeps_open_sessions_on_it(wsgate):
    srv = wsgate([ECHO, OTHER])
    sock, reader = ws_handshake(srv, "/other")
    with sock:
        mark = len(srv.log())
        srv.write_config(make_config(srv.port, [ECHO], srv.server_opts))
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload: 1 route\(s\) in force", start=mark)
        for _ in range(4):
            resp, _ = http_exchange(srv, upgrade_request("/other"))
            assert resp.status == 404, resp
        sock.sendall(frame(OP_TEXT, "still served"))
        assert read_message(reader) == (OP_TEXT, b"still served")


def test_sighup_with_broken_file_keeps_running_configuration(wsgate):
    srv = wsgate([ECHO, OTHER])
    mark = len(srv.log())
    # Valid TOML that drops /other, plus an error: nothing of it may take effect.
    broken = make_config(srv.port, [ECHO, {"path": "/third", "kind": "nonsense"}], srv.server_opts)
    srv.write_config(broken)
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"keeping the running configuration", start=mark)
    assert srv.proc.poll() is None
    for path in ("/echo", "/other"):
        sock, reader = ws_handshake(srv, path)
        with sock:
            sock.sendall(frame(OP_TEXT, path))
            assert read_message(reader) == (OP_TEXT, path.encode())
    resp, _ = http_exchange(srv, upgrade_request("/third"))
    assert resp.status == 404

    # A syntax error too.
    mark = len(srv.log())
    srv.write_config("[server\nworkers = = 2\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"keeping the running configuration", start=mark)
    sock, reader = ws_handshake(srv, "/other")
    sock.close()


def test_check_option(tmp_path):
    binary = _require_binary()
    good = tmp_path / "good.toml"
    good.write_text(make_config(8080, [ECHO]))
    r = subprocess.run([binary, "--check", str(good)], capture_output=True, timeout=10)
    assert r.returncode == 0, r
    assert b"configuration ok" in r.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text(make_config(8080, [ECHO, {"path": "/x", "kind": "echo", "ping_interval": -1}],
                               {"sever_header": "typo"}))
    r = subprocess.run([binary, "--check", str(bad)], capture_output=True, timeout=10)
    assert r.returncode == 1, r
    err = r.stderr.decode()
    assert f"{bad}:" in err and "problem" in err, err
    assert "ping_interval" in err and "sever_header" in err, err

    r = subprocess.run([binary, "--check", str(tmp_path / "missing.toml")], capture_output=True,
                       timeout=10)
    assert r.returncode == 1, r

    # -c FILE --check works too.
    r = subprocess.run([binary, "-c", str(good), "--check"], capture_output=True, timeout=10)
    assert r.returncode == 0, r


def test_version_and_bad_arguments():
    binary = _require_binary()
    r = subprocess.run([binary, "--version"], capture_output=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith(b"wsgate ")
    r = subprocess.run([binary, "--bogus"], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"usage" in r.stderr


def test_start_with_broken_config_exits_1(tmp_path):
    binary = _require_binary()
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[[listen]]\naddress = \"127.0.0.1:1\"\n")  # no route
    r = subprocess.run([binary, "-c", str(cfg)], capture_output=True, timeout=10)
    assert r.returncode == 1, r
    assert b"not starting" in r.stderr


def test_port_in_use_exits_1(tmp_path):
    binary = _require_binary()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cfg = tmp_path / "c.toml"
        cfg.write_text(make_config(port, [ECHO]))
        r = subprocess.run([binary, "-c", str(cfg)], capture_output=True, timeout=10)
        assert r.returncode == 1, r
        assert b"in use" in r.stderr.lower() or b"listen" in r.stderr, r.stderr
