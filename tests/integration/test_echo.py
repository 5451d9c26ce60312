"""WebSocket echo routes against the Python `websockets` client (and raw sockets where the client
library cannot misbehave on purpose): messages of every length class, fragmentation, ping/pong,
the close handshake with every code a client may send, server pings and pong timeouts, the idle
timeout, subprotocol selection and Origin checks."""

import asyncio
import os
import socket
import time

import pytest
from websockets.exceptions import InvalidStatusCode
from websockets.frames import Close

from conftest import (OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, close_frame, frame, read_close,
                      read_frame, read_message, run_async, ws_connect, ws_handshake)

ECHO = {"path": "/echo", "kind": "echo", "max_message_size": "32m", "max_frame_size": "32m"}

MiB = 1 << 20
SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB]

# Every close code a client may put on the wire (RFC 6455 §7.4.1; 1004-1006 and 1015 are
# reserved, and the registry adds 1012-1014), plus the ends of the application ranges.
CLIENT_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                      3000, 4999]


run = run_async


def connect(srv, path="/echo", **kw):
    return ws_connect(srv, path, **kw)


def payload_of(size, text):
    if text:
        # Multi-byte UTF-8 where it fits, so the server's UTF-8 check sees real sequences.
        unit = "aé€😀"  # 1 + 2 + 3 + 4 bytes
        s = unit * (size // 10) + "a" * (size % 10)
        assert len(s.encode()) == size
        return s
    return os.urandom(size) if size <= MiB else (os.urandom(MiB) * (size // MiB))


@pytest.fixture
def echo(wsgate):
    return wsgate([ECHO])


@pytest.mark.parametrize("text", [True, False], ids=["text", "binary"])
def test_messages_of_every_length_class_come_back_identical(echo, text):
    async def go():
        async with connect(echo) as ws:
            for size in SIZES:
                msg = payload_of(size, text)
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 20)
                assert type(got) is type(msg), f"size {size}: type changed"
                assert len(got) == len(msg) and got == msg, f"size {size}: payload differs"
    run(go(), 60)


def test_fragmented_message_comes_back_whole(echo):
    async def go():
        async with connect(echo) as ws:
            async def fragments():
                for part in ["frag", "mént", "ed " * 1000, "", "end"]:
                    yield part
            await ws.send(fragments())
            assert await ws.recv() == "fragmént" + "ed " * 1000 + "end"

            async def binary_fragments():
                for i in range(5):
                    yield bytes([i]) * 70000
            await ws.send(binary_fragments())
            assert await ws.recv() == b"".join(bytes([i]) * 70000 for i in range(5))
    run(go())


def test_fragments_interleaved_with_ping_on_raw_socket(echo):
    sock, reader = ws_handshake(echo)
    with sock:
        sock.sendall(frame(OP_TEXT, "Hel", fin=False) + frame(OP_PING, b"mid") +
                     frame(0, "lo", fin=False) + frame(0, "!", fin=True))
        _fin, _rsv, op, payload = read_frame(reader)
        assert (op, payload) == (OP_PONG, b"mid")
        assert read_message(reader) == (OP_TEXT, b"Hello!")


def test_ping_gets_pong_with_the_same_payload(echo):
    async def go():
        async with connect(echo) as ws:
            for payload in [b"", b"x", b"p" * 125]:
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, 5)
            await ws.send("still fine")
            assert await ws.recv() == "still fine"
    run(go())
    # The library matches pongs by payload; check the exact bytes on a raw socket too.
    sock, reader = ws_handshake(echo)
    with sock:
        sock.sendall(frame(OP_PING, b"\x00\xffabc"))
        fin, rsv, op, payload = read_frame(reader)
        assert (fin, rsv, op, payload) == (True, 0, OP_PONG, b"\x00\xffabc")


def _library_can_send(code):
    try:
        Close(code, "").serialize()
        return True
    except Exception:  # websockets refuses codes it considers invalid on the wire
        return False


@pytest.mark.parametrize("code", CLIENT_CLOSE_CODES)
def test_close_code_round_trips(echo, code):
    if _library_can_send(code):
        async def go():
            ws = await connect(echo)
            await ws.send("before close")
            assert await ws.recv() == "before close"
            await ws.close(code=code, reason="bye")
            assert ws.close_code == code
        run(go())
    # Raw as well: the exact echoed frame (the code, no reason) then the server's FIN.
    sock, reader = ws_handshake(echo)
    with sock:
        sock.sendall(close_frame(code, b"bye"))
        got, _reason = read_close(reader)
        assert got == code
        assert reader.at_eof(1.0), "server did not close TCP after the close handshake"


def test_close_without_code_is_answered_without_code(echo):
    sock, reader = ws_handshake(echo)
    with sock:
        sock.sendall(close_frame(None))
        fin, _rsv, op, payload = read_frame(reader)
        assert (fin, op, payload) == (True, OP_CLOSE, b"")
        assert reader.at_eof(1.0)


def test_server_pings_and_connection_survives_when_client_answers(wsgate):
    srv = wsgate([dict(ECHO, ping_interval="300ms", pong_timeout="500ms")])
    sock, reader = ws_handshake(srv)
    with sock:
        sock.settimeout(2)
        pings = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            _fin, _rsv, op, payload = read_frame(reader)
            assert op == OP_PING, f"unexpected opcode {op}"
            pings += 1
            sock.sendall(frame(OP_PONG, payload))
        assert pings >= 4, f"only {pings} pings in 2 s with ping_interval 300ms"
        sock.sendall(frame(OP_TEXT, "alive"))
        assert read_message(reader) == (OP_TEXT, b"alive")

    # The library client answers pings by itself: the connection stays up well past several
    # ping_interval + pong_timeout periods.
    async def go():
        async with connect(srv) as ws:
            await asyncio.sleep(2.0)
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 5) == "still here"
    run(go())


# Both orders of the two timers: a pong_timeout longer than ping_interval (the next ping is due
# before the pong deadline) must not postpone the deadline.
@pytest.mark.parametrize("ping_ms,pong_ms", [(300, 500), (500, 300)])
def test_client_that_never_answers_pings_is_dropped(wsgate, ping_ms, pong_ms):
    srv = wsgate([dict(ECHO, ping_interval=f"{ping_ms}ms", pong_timeout=f"{pong_ms}ms")])
    sock, reader = ws_handshake(srv)
    with sock:
        start = time.monotonic()
        # Send nothing, answer nothing. Reading does not tell the server anything, so the pings
        # are read (to see them) until the server drops the connection or the deadline passes.
        expected = (ping_ms + pong_ms) / 1000
        deadline = start + expected + 2.0
        sock.settimeout(0.2)
        frames, dropped_at = [], None
        while time.monotonic() < deadline:
            try:
                frames.append(read_frame(reader))
            except socket.timeout:
                continue
            except (EOFError, ConnectionResetError):
                dropped_at = time.monotonic() - start
                break
        assert frames and all(f[2] == OP_PING for f in frames), frames
        assert dropped_at is not None, (
            f"still connected after {deadline - start:.1f} s and {len(frames)} pings "
            f"(ping_interval {ping_ms} ms, pong_timeout {pong_ms} ms: expected a drop at "
            f"about {expected:.1f} s)")
        assert expected - 0.1 <= dropped_at <= expected + 1.0, f"dropped after {dropped_at:.2f} s"
    srv.wait_log(rf"no answer to ping within {pong_ms} ms")


def test_idle_timeout_closes_with_1001(wsgate):
    srv = wsgate([dict(ECHO, idle_timeout="600ms")])

    async def go():
        async with connect(srv) as ws:
            # Traffic keeps it open past the timeout...
            for i in range(5):
                await asyncio.sleep(0.25)
                await ws.send(f"m{i}")
                assert await ws.recv() == f"m{i}"
            # ...silence, counted from the last frame the server received, closes it. The timer
            # wheel fires up to one tick late, never early; the lower bound leaves 50 ms for the
            # echo's way back to the client.
            start = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), 5)
            elapsed = time.monotonic() - start
            assert ws.close_code == 1001
            assert 0.55 <= elapsed <= 2.5, f"closed after {elapsed:.2f} s of silence"
    run(go())


def test_subprotocol_selection_follows_server_preference(wsgate):
    srv = wsgate([dict(ECHO, subprotocols=["b", "a"])])

    async def go():
        async with connect(srv, subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"
        async with connect(srv, subprotocols=["a"]) as ws:
            assert ws.subprotocol == "a"
        async with connect(srv, subprotocols=["c"]) as ws:
            assert ws.subprotocol is None
        async with connect(srv) as ws:
            assert ws.subprotocol is None
    run(go())
    sock, reader = ws_handshake(srv)  # none offered: no Sec-WebSocket-Protocol in the 101
    sock.close()
    assert reader.response.header("sec-websocket-protocol") is None, reader.response
    sock, reader = ws_handshake(srv, extra=[("Sec-WebSocket-Protocol", "x, a, b")])
    sock.close()
    assert reader.response.header("sec-websocket-protocol") == "b", reader.response


def test_origin_allow_list(wsgate):
    srv = wsgate([dict(ECHO, origins=["https://good.example"])])

    async def go():
        with pytest.raises(InvalidStatusCode) as exc:
            await connect(srv, origin="https://bad.example")
        assert exc.value.status_code == 403
        async with connect(srv, origin="https://good.example") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    run(go())


def test_many_messages_in_flight_keep_order(echo):
    async def go():
        async with connect(echo) as ws:
            msgs = [f"#{i}:" + "x" * (i * 37 % 3000) for i in range(500)]
            for m in msgs:
                await ws.send(m)
            for m in msgs:
                assert await ws.recv() == m
    run(go())
