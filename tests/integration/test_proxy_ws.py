"""kind = "proxy" with WebSocket: wsgate in front of a Python `websockets` upstream (ws_upstream.py),
driven by the `websockets` client and by raw sockets where every byte must be chosen.

wsgate does the upstream handshake before it answers the client, so the client's 101 carries the
subprotocol the upstream chose, a dead upstream is a 502, an upstream's 4xx refusal reaches the
client as that status and a 5xx or a non-WebSocket answer is a 502. The upstream sees the raw
request target, the client's Host, subprotocol offer and end-to-end headers (hop-by-hop ones
removed) plus X-Forwarded-For/-Proto/-Host.

The default mode relays message by message: types and boundaries are kept (a fragmented message
arrives upstream as one message), text is UTF-8 checked (1007), max_message_size applies (1009),
pings reach the upstream and its pongs come back, every close code a client may send travels
both ways with its reason (a close without a code stays without one), and an upstream that
vanishes without a close frame is a close 1014. Frames the client sends with its upgrade request,
and a message the upstream sends right after its 101, are not lost. With passthrough = true the
bytes after the 101 are tunnelled (fragments stay fragments). Last, a slow upstream holds the
client back: 200 MiB pass through with wsgate's RSS under 64 MiB."""

import asyncio
import hashlib
import os
import threading
import time
import uuid

import pytest
from websockets.exceptions import InvalidStatusCode

from conftest import (OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, SANITIZED, Reader,
                      Wsgate, close_frame, frame, free_port, http_exchange, read_close,
                      read_frame, read_message, read_response, run_async, upgrade_request,
                      ws_accept, ws_connect, ws_handshake, ws_key)
from ws_upstream import CMD, RawHttpUpstream, WsUpstream

MiB = 1 << 20

# Every close code a client may put on the wire (RFC 6455 §7.4.1 and the IANA registry: 1004-1006
# and 1015 are reserved), with the ends of the registered (3000-3999) and private (4000-4999)
# ranges.
CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
               4000, 4999]

UPSTREAM_SUBPROTOCOLS = ["chat.v2", "chat"]  # the upstream's order of preference

GARBAGE = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nthis is not HTTP\r\n\r\n"
BAD_ACCEPT = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")


def run(coro, timeout=30):
    return run_async(coro, timeout)


def uid():
    return uuid.uuid4().hex[:12]


def reason_for(code):
    return f"reason {code} \u00e9"  # a reason with a multi-byte character


# ---------------------------------------------------------------------------------------------
# One wsgate for the module, in front of one echo upstream (and a few broken ones)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    up = WsUpstream("echo", subprotocols=UPSTREAM_SUBPROTOCOLS)
    yield up
    up.close()
    assert not up.errors, up.errors


@pytest.fixture(scope="module")
def raw_upstreams():
    ups = {"garbage": RawHttpUpstream(GARBAGE), "bad_accept": RawHttpUpstream(BAD_ACCEPT)}
    yield ups
    for u in ups.values():
        u.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, app, raw_upstreams):
    # Routes that may change an upstream pool's health state (drops, refusals) get pools of
    # their own, so that one test's upstream failures cannot turn another's into a 502.
    routes = [
        {"path": "/ws", "kind": "proxy", "upstream": "app"},
        {"path": "/pt", "kind": "proxy", "upstream": "app_pt", "passthrough": True},
        {"path": "/small", "kind": "proxy", "upstream": "app_small", "max_message_size": 1024},
        {"path": "/drop", "kind": "proxy", "upstream": "app_drop"},
        {"path": "/r4", "kind": "proxy", "upstream": "app_4xx"},
        {"path": "/r5", "kind": "proxy", "upstream": "app_5xx"},
        {"path": "/dead", "kind": "proxy", "upstream": "dead"},
        {"path": "/garbage", "kind": "proxy", "upstream": "garbage"},
        {"path": "/bad_accept", "kind": "proxy", "upstream": "bad_accept"},
    ]
    upstreams = {name: {"servers": [app.address]}
                 for name in ("app", "app_pt", "app_small", "app_drop", "app_4xx", "app_5xx")}
    upstreams["dead"] = {"servers": [f"127.0.0.1:{free_port()}"]}  # nothing listens: refused
    for name, u in raw_upstreams.items():
        upstreams[name] = {"servers": [u.address]}
    s = Wsgate(str(tmp_path_factory.mktemp("proxyws")), routes, upstreams=upstreams)
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"exit code {code} after SIGTERM\n{s.log()}"


@pytest.fixture(autouse=True)
def _attach_log(request):
    if "srv" in request.fixturenames:
        request.node._wsgate_servers = [request.getfixturevalue("srv")]


def warm_up(sock, reader, text="warm-up"):
    """One echo through the proxy: the upstream leg is open and relaying."""
    sock.sendall(frame(OP_TEXT, text))
    assert read_message(reader) == (OP_TEXT, text.encode())


def upstream_initiated_close(rec):
    """True if the upstream sent a close frame of its own (not a reply to one it received)."""
    return rec.close_sent is not None and rec.close_rcvd_then_sent is not True


# ---------------------------------------------------------------------------------------------
# Echo through the proxy
# ---------------------------------------------------------------------------------------------


def test_text_binary_and_empty_messages_keep_their_type(srv, app):
    key = uid()
    msgs = ["h\u00e9llo \U0001F600", b"\x00\xff\x80binary", "", b""]

    async def go():
        async with ws_connect(srv, f"/ws?id={key}") as ws:
            for m in msgs:
                await ws.send(m)
                got = await asyncio.wait_for(ws.recv(), 5)
                assert type(got) is type(m) and got == m, f"sent {m!r}, got {got!r}"
    run(go())
    rec = app.wait_conn(key).wait_ended()
    assert rec.messages == [("text" if isinstance(m, str) else "binary", m) for m in msgs]


@pytest.mark.parametrize("text", [True, False], ids=["text", "binary"])
def test_one_mib_message_round_trips(srv, app, text):
    key = uid()
    msg = "a\u00e9\u20ac\U0001F600" * (MiB // 10) + "a" * (MiB % 10) if text else os.urandom(MiB)
    assert len(msg.encode() if text else msg) == MiB

    async def go():
        async with ws_connect(srv, f"/ws?id={key}") as ws:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert type(got) is type(msg)
            assert len(got) == len(msg) and got == msg, "payload differs"
    run(go())
    kind, n, digest = app.wait_conn(key).wait_ended().messages[0]
    data = msg.encode() if text else msg
    assert (kind, n, digest) == ("text" if text else "binary", MiB, hashlib.sha256(data).hexdigest())


def test_hundred_messages_in_flight_keep_order(srv, app):
    key = uid()
    msgs = []
    for i in range(100):
        body = f"#{i}:" + "x" * (i * 731 % 70000)
        msgs.append(body if i % 2 else body.encode())

    async def go():
        async with ws_connect(srv, f"/ws?id={key}") as ws:
            for m in msgs:  # all sent before the first is read back
                await ws.send(m)
            for i, m in enumerate(msgs):
                got = await asyncio.wait_for(ws.recv(), 10)
                assert type(got) is type(m) and got == m, f"message {i} out of order or changed"
    run(go())
    rec = app.wait_conn(key).wait_ended()
    assert len(rec.messages) == 100
    for i, (got, m) in enumerate(zip(rec.messages, msgs)):
        assert got[0] == ("text" if isinstance(m, str) else "binary"), f"message {i}: type"
        if len(got) == 2:
            assert got[1] == m, f"message {i} reached the upstream changed or out of order"
        else:
            data = m.encode() if isinstance(m, str) else m
            assert got[1:] == (len(data), hashlib.sha256(data).hexdigest()), f"message {i}"


def test_fragmented_message_reaches_the_upstream_as_one_message(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        # "Hello wörld": the ö (C3 B6) is split between two fragments.
        sock.sendall(frame(OP_TEXT, b"Hel", fin=False) + frame(OP_CONT, b"lo w\xc3", fin=False) +
                     frame(OP_CONT, b"\xb6rld", fin=True))
        assert read_message(reader) == (OP_TEXT, "Hello w\u00f6rld".encode())
        parts = [bytes([i]) * 5000 for i in range(4)]
        sock.sendall(frame(OP_BINARY, parts[0], fin=False) +
                     b"".join(frame(OP_CONT, p, fin=False) for p in parts[1:-1]) +
                     frame(OP_CONT, parts[-1], fin=True))
        assert read_message(reader) == (OP_BINARY, b"".join(parts))
        sock.sendall(close_frame(1000))
        assert read_close(reader)[0] == 1000
    rec = app.wait_conn(key).wait_ended()
    assert rec.messages == [("text", "Hello w\u00f6rld"), ("binary", b"".join(parts))]


def test_ping_inside_a_fragmented_message(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        sock.sendall(frame(OP_TEXT, "fir", fin=False) + frame(OP_PING, b"mid-message") +
                     frame(OP_CONT, "st", fin=True))
        pongs, message, parts = [], None, []
        while not pongs or message is None:
            fin, _rsv, op, payload = read_frame(reader)
            if op == OP_PONG:
                pongs.append(payload)
            elif op in (OP_TEXT, OP_BINARY, OP_CONT):
                parts.append((op, payload))
                if fin:
                    message = (parts[0][0], b"".join(p for _, p in parts))
            # a ping from wsgate itself is not what we wait for
        assert pongs == [b"mid-message"]
        assert message == (OP_TEXT, b"first")
    rec = app.wait_conn(key)
    assert b"mid-message" in rec.pings, f"the ping did not reach the upstream: {rec.pings}"
    assert rec.messages[0] == ("text", "first")


@pytest.mark.parametrize("path", ["/ws", "/pt"], ids=["relay", "passthrough"])
def test_frames_sent_with_the_upgrade_request_are_relayed(srv, app, path):
    # The client does not wait for the 101: its first frame arrives with the request, while
    # wsgate is still handshaking with the upstream.
    key = uid()
    ws_k = ws_key()
    sock = srv.connect()
    with sock:
        sock.sendall(upgrade_request(f"{path}?id={key}", ws_k) + frame(OP_TEXT, "early") +
                     frame(OP_BINARY, b"\x01\x02"))
        reader = Reader(sock)
        resp = read_response(reader, head_request=True)
        assert resp.status == 101 and resp.header("sec-websocket-accept") == ws_accept(ws_k)
        assert read_message(reader) == (OP_TEXT, b"early")
        assert read_message(reader) == (OP_BINARY, b"\x01\x02")
    assert app.wait_conn(key).messages == [("text", "early"), ("binary", b"\x01\x02")]


@pytest.mark.parametrize("path", ["/ws", "/pt"], ids=["relay", "passthrough"])
def test_upstream_that_speaks_first_is_heard(srv, path):
    # The upstream's first message follows its 101 at once, possibly in the same read.
    sock, reader = ws_handshake(srv, f"{path}?id={uid()}&hello=greetings")
    with sock:
        assert read_message(reader) == (OP_TEXT, b"greetings")
        warm_up(sock, reader)


# ---------------------------------------------------------------------------------------------
# The handshake: subprotocols, headers, the request target
# ---------------------------------------------------------------------------------------------


def test_subprotocol_is_the_one_the_upstream_chose(srv, app):
    async def go():
        cases = [(["chat", "chat.v2", "other"], "chat.v2"), (["other", "chat"], "chat"),
                 (["other"], None), (None, None)]
        for offer, chosen in cases:
            key = uid()
            async with ws_connect(srv, f"/ws?id={key}", subprotocols=offer) as ws:
                assert ws.subprotocol == chosen, f"offered {offer}"
                await ws.send("x")
                assert await ws.recv() == "x"
            rec = app.wait_conn(key)
            assert rec.offered == (offer or []), f"offered {offer}, the upstream saw {rec.offered}"
            assert rec.subprotocol == chosen
            if offer is None:
                assert rec.header("sec-websocket-protocol") is None
    run(go())
    # On the wire: the client's 101 names exactly the upstream's choice, or no header at all.
    for offer, chosen in (("other, chat.v2, chat", "chat.v2"), ("other", None)):
        sock, reader = ws_handshake(srv, f"/ws?id={uid()}",
                                    extra=[("Sec-WebSocket-Protocol", offer)])
        sock.close()
        assert reader.response.header("sec-websocket-protocol") == chosen, reader.response


def test_request_target_host_and_end_to_end_headers_reach_the_upstream(srv, app):
    key = uid()
    target = f"/ws/sub/a%2Fb/x?id={key}&q=%20x+y&e=%C3%A9"
    host = "front.example:8443"
    end_to_end = [("Cookie", "session=abc; theme=dark"), ("Authorization", "Bearer t0k3n"),
                  ("Origin", "https://app.example"), ("User-Agent", "proxy-test/1.0"),
                  ("X-Custom", "custom value"), ("Accept-Language", "fr-CH, fr;q=0.9")]
    hop_by_hop = [("Connection", "Upgrade, X-Hop"), ("X-Hop", "for wsgate only"),
                  ("Keep-Alive", "timeout=5"), ("TE", "trailers")]
    ws_k = ws_key()
    sock = srv.connect()
    with sock:
        sock.sendall(upgrade_request(target, ws_k, host=host, extra=end_to_end + hop_by_hop,
                                     omit=("connection",)))
        reader = Reader(sock)
        resp = read_response(reader, head_request=True)
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == ws_accept(ws_k), resp
        warm_up(sock, reader)
    rec = app.wait_conn(key)
    assert rec.path == target, "the request target was not forwarded as sent"
    assert rec.header("host") == host
    for name, value in end_to_end:
        assert rec.header(name) == value, f"{name}: upstream saw {rec.all(name)}"
    for name in ("x-hop", "keep-alive", "te"):
        assert rec.header(name) is None, f"hop-by-hop {name} was forwarded: {rec.all(name)}"
    assert rec.header("upgrade").lower() == "websocket"
    assert "x-hop" not in rec.header("connection").lower()
    assert rec.header("sec-websocket-version") == "13"
    assert rec.header("x-forwarded-for") == "127.0.0.1"
    assert rec.header("x-forwarded-proto") == "http"
    assert rec.header("x-forwarded-host") in (host, "front.example"), rec.headers


def test_x_forwarded_for_ends_with_the_client_address(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/ws?id={key}", extra=[("X-Forwarded-For", "203.0.113.7")])
    with sock:
        warm_up(sock, reader)
    hops = ",".join(app.wait_conn(key).all("x-forwarded-for")).split(",")
    assert hops[-1].strip() == "127.0.0.1", hops


# ---------------------------------------------------------------------------------------------
# Pings and closes
# ---------------------------------------------------------------------------------------------


def test_client_ping_is_answered_by_the_upstream(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        for payload in (b"\x00\xffping-1", b"", b"p" * 125):
            sock.sendall(frame(OP_PING, payload))
            while True:
                fin, rsv, op, got = read_frame(reader)
                if op != OP_PING:  # wsgate may ping us on its own; skip those
                    break
            assert (fin, rsv, op, got) == (True, 0, OP_PONG, payload)
        warm_up(sock, reader)
    rec = app.wait_conn(key)
    assert rec.pings == [b"\x00\xffping-1", b"", b"p" * 125], (
        "the pings were not relayed to the upstream (answered by wsgate itself?)")


@pytest.mark.parametrize("code", CLOSE_CODES)
def test_client_close_code_and_reason_reach_the_upstream(srv, app, code):
    key = uid()
    reason = reason_for(code)
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(close_frame(code, reason.encode()))
        got, _reason = read_close(reader)
        assert got == code, f"close reply {got}, expected {code}"
        assert reader.at_eof(2.0), "wsgate did not close TCP after the close handshake"
    rec = app.wait_conn(key).wait_ended()
    assert rec.close_rcvd == (code, reason), f"upstream got close {rec.close_rcvd}"
    assert not upstream_initiated_close(rec), f"the upstream closed first: {rec.close_sent}"


def test_client_close_without_code_reaches_the_upstream_without_code(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(close_frame(None))
        assert read_close(reader) == (None, b"")
        assert reader.at_eof(2.0)
    rec = app.wait_conn(key).wait_ended()
    assert rec.close_rcvd == (1005, ""), f"upstream got {rec.close_rcvd}, expected no code (1005)"


@pytest.mark.parametrize("code", CLOSE_CODES)
def test_upstream_close_code_and_reason_reach_the_client(srv, app, code):
    key = uid()
    reason = reason_for(code)
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(frame(OP_TEXT, f"{CMD}close {code} {reason}"))
        got = read_close(reader)
        assert got == (code, reason.encode()), f"client got close {got}"
        sock.sendall(close_frame(code))  # the client's reply
        assert reader.at_eof(2.0), "wsgate did not close TCP after the close handshake"
    rec = app.wait_conn(key).wait_ended()
    assert rec.close_sent == (code, reason)
    assert rec.close_rcvd is not None and rec.close_rcvd[0] == code, rec.close_rcvd


def test_library_client_sees_the_upstream_close(srv):
    async def go():
        async with ws_connect(srv, f"/ws?id={uid()}") as ws:
            await ws.send(f"{CMD}close 4321 going away now")
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert (ws.close_code, ws.close_reason) == (4321, "going away now")
    run(go())


# ---------------------------------------------------------------------------------------------
# Upstream failures
# ---------------------------------------------------------------------------------------------


def test_dead_upstream_is_502_without_101(srv):
    for _ in range(3):
        start = time.monotonic()
        resp, reader = http_exchange(srv, upgrade_request("/dead"))
        reader.sock.close()
        assert resp.status == 502, resp
        assert time.monotonic() - start < 3

    async def go():
        with pytest.raises(InvalidStatusCode) as e:
            async with ws_connect(srv, "/dead"):
                pass
        assert e.value.status_code == 502
    run(go())


@pytest.mark.parametrize("status", [401, 403, 404])
def test_upstream_refusal_status_reaches_the_client(srv, app, status):
    key = uid()
    resp, reader = http_exchange(srv, upgrade_request(f"/r4?id={key}&refuse={status}"))
    reader.sock.close()
    assert resp.status == status, resp
    assert resp.header("sec-websocket-accept") is None
    assert app.wait_conn(key).refused == status

    async def go():
        with pytest.raises(InvalidStatusCode) as e:
            async with ws_connect(srv, f"/r4?id={uid()}&refuse={status}"):
                pass
        assert e.value.status_code == status
    run(go())


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_5xx_is_502(srv, app, status):
    key = uid()
    resp, reader = http_exchange(srv, upgrade_request(f"/r5?id={key}&refuse={status}"))
    reader.sock.close()
    assert resp.status == 502, resp
    assert app.wait_conn(key).refused == status


@pytest.mark.parametrize("path", ["/garbage", "/bad_accept"])
def test_upstream_that_does_not_speak_websocket_is_502(srv, raw_upstreams, path):
    # Both upstreams hold their connection open after answering: wsgate must judge the answer,
    # not wait for EOF. A 101 whose Sec-WebSocket-Accept is wrong fails the handshake
    # (RFC 6455 §4.1), so no 101 may reach the client.
    start = time.monotonic()
    resp, reader = http_exchange(srv, upgrade_request(path))
    reader.sock.close()
    assert resp.status == 502, resp
    assert time.monotonic() - start < 3, "wsgate waited for the upstream to close"
    assert raw_upstreams[path[1:]].requests, "the upstream was never asked"


@pytest.mark.parametrize("how", ["drop", "eof"], ids=["reset", "eof_without_close"])
def test_upstream_vanishing_after_101_closes_1014(srv, app, how):
    key = uid()
    sock, reader = ws_handshake(srv, f"/drop?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(frame(OP_TEXT, CMD + how))
        code, reason = read_close(reader)
        assert code == 1014, f"close {code} ({reason!r}), expected 1014"
        sock.sendall(close_frame(1000))
        assert reader.at_eof(2.0), "wsgate did not close TCP"
    rec = app.wait_conn(key).wait_ended()
    assert rec.close_sent is None  # it really left without a close frame


# ---------------------------------------------------------------------------------------------
# Client violations judged by wsgate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    frame(OP_TEXT, b"ok \xff"),
    frame(OP_TEXT, "ok \u00e9".encode(), fin=False) + frame(OP_CONT, b"\xff", fin=True),
], ids=["one_frame", "second_fragment"])
def test_invalid_utf8_from_the_client_closes_1007(srv, app, bad):
    key = uid()
    sock, reader = ws_handshake(srv, f"/ws?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(bad)
        code, reason = read_close(reader)
        assert code == 1007, f"close {code} ({reason!r}), expected 1007"
        assert reader.at_eof(2.0), "wsgate did not close TCP after its close frame"
    rec = app.wait_conn(key).wait_ended(8.0)
    assert rec.messages == [("text", "warm-up")], "invalid text reached the upstream"
    assert not upstream_initiated_close(rec), (
        f"the upstream found the invalid UTF-8 itself (it closed with {rec.close_sent})")


def test_message_at_the_limit_passes_and_above_closes_1009(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/small?id={key}")
    with sock:
        sock.sendall(frame(OP_BINARY, b"y" * 1024))
        assert read_message(reader) == (OP_BINARY, b"y" * 1024)
        sock.sendall(frame(OP_BINARY, b"z" * 1025))
        code, reason = read_close(reader)
        assert code == 1009, f"close {code} ({reason!r}), expected 1009"
        assert reader.at_eof(2.0)
    rec = app.wait_conn(key).wait_ended(8.0)
    assert rec.messages == [("binary", b"y" * 1024)]

    key = uid()
    sock, reader = ws_handshake(srv, f"/small?id={key}")
    with sock:
        sock.sendall(frame(OP_TEXT, "a" * 600, fin=False) + frame(OP_CONT, "b" * 600, fin=True))
        code, reason = read_close(reader)
        assert code == 1009, f"fragments over the limit: close {code} ({reason!r})"
        assert reader.at_eof(2.0)
    assert app.wait_conn(key).wait_ended(8.0).messages == []


# ---------------------------------------------------------------------------------------------
# passthrough = true
# ---------------------------------------------------------------------------------------------


def test_passthrough_echo_keeps_fragments(srv, app):
    key = uid()
    sock, reader = ws_handshake(srv, f"/pt?id={key}",
                                extra=[("Sec-WebSocket-Protocol", "chat")])
    with sock:
        assert reader.response.header("sec-websocket-protocol") == "chat"
        warm_up(sock, reader, "hi")
        sock.sendall(frame(OP_TEXT, "Hel", fin=False) + frame(OP_CONT, "lo", fin=False) +
                     frame(OP_CONT, "!", fin=True))
        assert read_message(reader) == (OP_TEXT, b"Hello!")
        sock.sendall(frame(OP_PING, b"pt-ping"))
        while True:
            fin, _rsv, op, payload = read_frame(reader)
            if op != OP_PING:
                break
        assert (fin, op, payload) == (True, OP_PONG, b"pt-ping")
        sock.sendall(close_frame(1000))
        assert read_close(reader)[0] == 1000
    rec = app.wait_conn(key).wait_ended()
    assert rec.frames == [(OP_TEXT, True, 2), (OP_TEXT, False, 3), (OP_CONT, False, 2),
                          (OP_CONT, True, 1)], "the fragments were not tunnelled as sent"
    assert rec.messages == [("text", "hi"), ("text", "Hello!")]
    assert rec.pings == [b"pt-ping"]


def test_passthrough_large_messages(srv):
    async def go():
        async with ws_connect(srv, f"/pt?id={uid()}", compression=None) as ws:
            for msg in (os.urandom(MiB), "t\u00e9xt" * 100000, b""):
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 10)
                assert type(got) is type(msg) and got == msg
    run(go())


@pytest.mark.parametrize("code", [1000, 1001, 1011, 3000, 4999])
def test_passthrough_close_codes_both_ways(srv, app, code):
    reason = reason_for(code)
    key = uid()
    sock, reader = ws_handshake(srv, f"/pt?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(close_frame(code, reason.encode()))
        assert read_close(reader) == (code, reason.encode())  # websockets echoes code and reason
        assert reader.at_eof(2.0)
    assert app.wait_conn(key).wait_ended().close_rcvd == (code, reason)

    key = uid()
    sock, reader = ws_handshake(srv, f"/pt?id={key}")
    with sock:
        warm_up(sock, reader)
        sock.sendall(frame(OP_TEXT, f"{CMD}close {code} {reason}"))
        assert read_close(reader) == (code, reason.encode())
        sock.sendall(close_frame(code))
        assert reader.at_eof(3.0)
    assert app.wait_conn(key).wait_ended().close_sent == (code, reason)


def test_zz_server_still_healthy(srv):
    sock, reader = ws_handshake(srv, f"/ws?id={uid()}")
    with sock:
        warm_up(sock, reader, "healthy")
    assert srv.proc.poll() is None


# ---------------------------------------------------------------------------------------------
# Memory against a slow upstream
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(SANITIZED, reason="RSS budgets apply to normal builds only")
def test_slow_upstream_holds_the_client_back_and_bounds_memory(wsgate):
    stall = 2.5  # the upstream reads nothing for this long, then reads slowly
    up = WsUpstream("sink", stall=stall, delay=0.005, rcvbuf=65536)
    try:
        srv = wsgate([{"path": "/ws", "kind": "proxy", "upstream": "slow"}],
                     upstreams={"slow": {"servers": [up.address]}})
        base = srv.rss_kib()
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.02):
                try:
                    peak[0] = max(peak[0], srv.rss_kib())
                except (OSError, AssertionError):
                    return
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        total, chunk = 200 * MiB, MiB

        async def go():
            h = hashlib.sha256()
            sent_at = []
            async with ws_connect(srv, "/ws?id=rss", compression=None) as ws:
                block = os.urandom(4 * MiB)
                for i in range(total // chunk):
                    off = (i * 7919) % (len(block) - chunk)
                    piece = i.to_bytes(8, "little") + block[off + 8:off + chunk]
                    h.update(piece)
                    await ws.send(piece)
                    sent_at.append(time.monotonic())
                rec = up.wait_conn("rss", 1)
                deadline = time.monotonic() + 20
                while rec.bytes < total and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            return h.hexdigest(), sent_at

        start = time.monotonic()
        want, sent_at = run(go(), 45)
        elapsed = time.monotonic() - start
        stop.set()
        sampler.join(2)
        rec = up.wait_conn("rss")
        assert rec.bytes == total, f"the upstream got {rec.bytes} of {total} bytes"
        assert rec.sha.hexdigest() == want, "the data reached the upstream changed or reordered"
        early = sum(chunk for t in sent_at if t < rec.read_started)
        print(f"proxy to a slow upstream: {total // MiB} MiB in {elapsed:.1f} s; "
              f"{early // MiB} MiB left the client during the {stall} s stall; "
              f"RSS {base} KiB at start, peak {peak[0]} KiB")
        assert early < 100 * MiB, (
            f"{early // MiB} MiB left the client while the upstream read nothing: "
            "wsgate did not stop reading the client")
        assert peak[0] < 64 * 1024, f"wsgate RSS peaked at {peak[0]} KiB (start {base} KiB)"
    finally:
        up.close()


@pytest.mark.skipif(SANITIZED, reason="RSS budgets apply to normal builds only")
def test_ping_flood_at_an_upstream_that_does_not_read_is_held_back(wsgate):
    """Pings are relayed like messages, so they obey the same backpressure: a client flooding
    pings at an upstream that reads nothing is paused instead of filling wsgate's memory."""
    import socket
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    held = []

    def accept_once():
        c, _ = lsock.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(4096)
        key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-key:")][0].decode()
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + ws_accept(key).encode() +
                  b"\r\n\r\n")
        held.append(c)  # and never read again
    t = threading.Thread(target=accept_once, daemon=True)
    t.start()
    try:
        srv = wsgate([{"path": "/ws", "kind": "proxy", "upstream": "deaf"}],
                     upstreams={"deaf": {"servers": [f"127.0.0.1:{lsock.getsockname()[1]}"]}})
        base = srv.rss_kib()
        sock, reader = ws_handshake(srv, "/ws")
        sock.settimeout(0.2)
        ping = frame(OP_PING, b"p" * 125) * 512
        sent = 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                sent += sock.send(ping)
            except (socket.timeout, BlockingIOError):
                pass  # wsgate stopped reading us: the point of the test
        grown = srv.rss_kib() - base
        print(f"ping flood: {sent // 1024} KiB of pings accepted, RSS +{grown} KiB")
        assert sent < 64 * MiB, f"{sent // MiB} MiB of pings accepted by a paused relay"
        assert grown < 48 * 1024, f"wsgate RSS grew {grown} KiB under a ping flood"
        sock.close()
    finally:
        for c in held:
            c.close()
        lsock.close()
