"""RFC 6455 violations and handshake errors, sent byte for byte on raw sockets.

Each violation test does the opening handshake by hand, sends the bad frame(s), reads the
server's close frame, checks its code (§7.4.1: 1002 protocol error, 1007 invalid payload, 1009
too big), and checks that the server then closes TCP (§7.1.1: the server closes first) within a
second. Handshake errors check the HTTP status and the headers RFC 6455 §4.2.2 asks for."""

import struct

import pytest

from conftest import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Reader, Wsgate,
                      close_frame, frame, http_exchange, read_close, read_message, read_response,
                      upgrade_request, ws_accept, ws_handshake, ws_key)

ECHO = {"path": "/echo", "kind": "echo", "max_message_size": 1024}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # One server for the module: every test opens its own connections and the server must stay
    # healthy across all of them (checked at the end by test_zz_server_still_healthy).
    s = Wsgate(str(tmp_path_factory.mktemp("wsproto")), [ECHO, {"path": "/other", "kind": "echo"}])
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"exit code {code} after SIGTERM\n{s.log()}"


@pytest.fixture(autouse=True)
def _attach_log(request, srv):
    request.node._wsgate_servers = [srv]


def violation(srv, data, expected_code, warmup=True):
    """Handshake, optionally one good echo, then `data`; expects a close with expected_code."""
    sock, reader = ws_handshake(srv)
    with sock:
        if warmup:
            sock.sendall(frame(OP_TEXT, "ok"))
            assert read_message(reader) == (OP_TEXT, b"ok")
        sock.sendall(data)
        code, reason = read_close(reader)
        assert code == expected_code, f"close code {code} ({reason!r}), expected {expected_code}"
        assert reader.at_eof(1.0), "server did not close TCP within 1 s after its close frame"
    return reason


# (id, bytes, expected close code)
VIOLATIONS = [
    ("unmasked client frame", frame(OP_TEXT, "hi", mask=False), 1002),
    ("reserved data opcode 3", frame(0x3, b"x"), 1002),
    ("reserved control opcode 0xB", frame(0xB, b""), 1002),
    ("RSV1 without extension", frame(OP_TEXT, "x", rsv=4), 1002),
    ("RSV2", frame(OP_TEXT, "x", rsv=2), 1002),
    ("RSV3", frame(OP_BINARY, b"x", rsv=1), 1002),
    ("fragmented ping", frame(OP_PING, b"p", fin=False), 1002),
    ("fragmented close", frame(OP_CLOSE, struct.pack("!H", 1000), fin=False), 1002),
    ("ping payload 126", frame(OP_PING, b"p" * 126), 1002),
    ("pong payload 126", frame(OP_PONG, b"p" * 126), 1002),
    ("continuation without start", frame(OP_CONT, b"x"), 1002),
    ("text inside a fragmented message", frame(OP_TEXT, "a", fin=False) + frame(OP_TEXT, "b"),
     1002),
    ("invalid UTF-8 text", frame(OP_TEXT, b"ab\xff"), 1007),
    ("overlong UTF-8", frame(OP_TEXT, b"\xc0\xaf"), 1007),
    ("UTF-16 surrogate", frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    ("invalid UTF-8 split across fragments",
     frame(OP_TEXT, "ok \u00e9".encode(), fin=False) + frame(OP_CONT, b"\xff", fin=True), 1007),
    ("truncated code point at message end",
     frame(OP_TEXT, b"ab\xe2\x82", fin=False) + frame(OP_CONT, b"", fin=True), 1007),
    ("frame over max_message_size", frame(OP_BINARY, b"x" * 1025), 1009),
    ("fragments over max_message_size",
     frame(OP_TEXT, "a" * 600, fin=False) + frame(OP_CONT, "b" * 600, fin=True), 1009),
    ("close code 1005", close_frame(1005), 1002),
    ("close code 1006", close_frame(1006), 1002),
    ("close code 1004", close_frame(1004), 1002),
    ("close code 1015", close_frame(1015), 1002),
    ("close code 999", close_frame(999), 1002),
    ("close code 5000", close_frame(5000), 1002),
    ("close with a 1-byte payload", frame(OP_CLOSE, b"\x03"), 1002),
    ("close reason invalid UTF-8", close_frame(1000, b"bye \xff"), 1007),
]


@pytest.mark.parametrize("data,code", [(d, c) for _, d, c in VIOLATIONS],
                         ids=[i for i, _, _ in VIOLATIONS])
def test_violation_fails_the_connection(srv, data, code):
    violation(srv, data, code)


def test_violation_as_first_frame(srv):
    violation(srv, frame(OP_TEXT, "hi", mask=False), 1002, warmup=False)


def test_violation_fed_byte_by_byte(srv):
    sock, reader = ws_handshake(srv)
    with sock:
        bad = frame(OP_TEXT, "ok \u00e9".encode(), fin=False) + frame(OP_CONT, b"\xff")
        for i in range(len(bad)):
            sock.sendall(bad[i:i + 1])
        code, _ = read_close(reader)
        assert code == 1007
        assert reader.at_eof(1.0)


def test_frame_at_max_message_size_is_fine(srv):
    sock, reader = ws_handshake(srv)
    with sock:
        sock.sendall(frame(OP_BINARY, b"y" * 1024))
        assert read_message(reader) == (OP_BINARY, b"y" * 1024)
        sock.sendall(frame(OP_TEXT, "a" * 512, fin=False) + frame(OP_CONT, "b" * 512))
        assert read_message(reader) == (OP_TEXT, b"a" * 512 + b"b" * 512)


def test_data_after_close_is_ignored_and_tcp_closed(srv):
    sock, reader = ws_handshake(srv)
    with sock:
        sock.sendall(close_frame(1000) + frame(OP_TEXT, "after close"))
        code, _ = read_close(reader)
        assert code == 1000
        assert reader.at_eof(1.0)


# ---------------------------------------------------------------------------------------------
# Handshake errors
# ---------------------------------------------------------------------------------------------


def test_missing_key_is_400(srv):
    resp, _ = http_exchange(srv, upgrade_request(omit=("sec-websocket-key",)))
    assert resp.status == 400, resp


def test_bad_key_is_400(srv):
    resp, _ = http_exchange(srv, upgrade_request(key="c2hvcnQ="))  # base64 of 5 bytes
    assert resp.status == 400, resp


def test_version_8_is_426_with_supported_version(srv):
    resp, _ = http_exchange(srv, upgrade_request(version="8"))
    assert resp.status == 426, resp
    assert resp.header("sec-websocket-version") == "13", resp


def test_post_upgrade_is_405(srv):
    # RFC 6455 §4.1: the handshake is a GET. The validator refuses other methods with 405.
    resp, _ = http_exchange(srv, upgrade_request(method="POST"))
    assert resp.status == 405, resp
    assert resp.header("allow") == "GET", resp


def test_plain_get_on_echo_route_is_426(srv):
    resp, _ = http_exchange(srv, b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 426, resp
    assert resp.header("upgrade") == "websocket", resp
    assert resp.header("sec-websocket-version") == "13", resp


def test_unknown_path_is_404(srv):
    resp, _ = http_exchange(srv, upgrade_request(path="/nowhere"))
    assert resp.status == 404, resp
    resp, _ = http_exchange(srv, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 404, resp


def test_accept_header_and_101_shape(srv):
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 example
    sock = srv.connect()
    with sock:
        sock.sendall(upgrade_request(key=key))
        reader = Reader(sock)
        resp = read_response(reader, head_request=True)
        assert resp.status == 101
        assert resp.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert resp.header("upgrade").lower() == "websocket"
        assert "upgrade" in resp.header("connection").lower()
        assert resp.header("sec-websocket-extensions") is None  # nothing negotiated yet


def test_frames_in_same_packet_as_handshake_are_processed(srv):
    key = ws_key()
    sock = srv.connect()
    with sock:
        sock.sendall(upgrade_request(key=key) + frame(OP_TEXT, "early"))
        reader = Reader(sock)
        resp = read_response(reader, head_request=True)
        assert resp.status == 101 and resp.header("sec-websocket-accept") == ws_accept(key)
        assert read_message(reader) == (OP_TEXT, b"early")


def test_zz_server_still_healthy(srv):
    sock, reader = ws_handshake(srv, "/other")
    with sock:
        sock.sendall(frame(OP_TEXT, "healthy"))
        assert read_message(reader) == (OP_TEXT, b"healthy")
    assert srv.proc.poll() is None
