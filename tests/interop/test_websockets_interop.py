"""Interop: wsgate's protocol core against an implementation we did not write.

The other side is the Python `websockets` library (Debian's python3-websockets 10.x, its sans-I/O
layer: websockets.frames, websockets.extensions.permessage_deflate, websockets.client /
websockets.server connections). Ours is tests/interop/ws_codec_tool.cpp, a stdin/stdout front end
to src/proto, found through $WSGATE_CODEC_TOOL (ctest sets it; see tests/README.md).

Every test compares exact values: decoded messages and close codes, byte-identical frames, and
the negotiated permessage-deflate parameters as both sides see them.
"""

import json
import os
import random
import struct
import subprocess
from unittest import mock

import pytest
from websockets.client import ClientConnection
from websockets.connection import OPEN
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    Frame,
)
from websockets.server import ServerConnection
from websockets.streams import StreamReader
from websockets.uri import parse_uri
from websockets.utils import apply_mask

TOOL = os.environ.get("WSGATE_CODEC_TOOL")
if not TOOL or not os.access(TOOL, os.X_OK):
    raise RuntimeError("set WSGATE_CODEC_TOOL to the ws_codec_tool binary (ctest does)")

# ---------------------------------------------------------------------------------------------
# Messages are tuples: ("text"|"binary"|"ping"|"pong", payload) or ("close", code, reason bytes).
# Decoding errors show up as ("error", close_code).
# ---------------------------------------------------------------------------------------------

OPCODES = {"text": OP_TEXT, "binary": OP_BINARY, "ping": OP_PING, "pong": OP_PONG}
_rng = random.Random(6455)


def rand_bytes(n):
    return _rng.randbytes(n)


def compressible(n):
    """n bytes of word salad: compresses well, but not to nothing."""
    words = [b"alpha", b"beta", b"gamma", b"delta", b"\xe2\x98\x83", b"{}", b"\n", b"0123"]
    out = bytearray()
    while len(out) < n:
        out += _rng.choice(words) + b" "
    return bytes(out[:n])


MULTIBYTE = "héllo wörld ☃ 𝄞 Ω≈ç√∫ 日本語".encode()

BASIC = [
    ("text", b"hello"),
    ("text", MULTIBYTE),
    ("text", b""),
    ("text", ("€" * 25000).encode()),  # 75000 bytes: 64-bit length
    ("binary", b""),
    ("binary", rand_bytes(125)),
    ("ping", b""),
    ("binary", rand_bytes(126)),
    ("binary", rand_bytes(65535)),
    ("pong", b"\x00" * 125),
    ("binary", rand_bytes(65536)),
    ("binary", rand_bytes(1 << 20)),
    ("ping", MULTIBYTE[:20]),
    ("close", 1001, "bye ☃".encode()),
]


def tool(*args, stdin=b""):
    r = subprocess.run([TOOL, *args], input=stdin, capture_output=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def params_arg(p):
    """(server_nct, client_nct, server_bits, client_bits) -> ws_codec_tool --deflate value."""
    return ",".join(str(int(v)) for v in p)


def our_decode_raw(wire, role, deflate=None, chunk=0, max_message=None):
    args = ["decode", "--role", role, "--chunk", str(chunk)]
    if deflate is not None:
        args += ["--deflate", params_arg(deflate)]
    if max_message is not None:
        args += ["--max-message", str(max_message)]
    return [json.loads(line) for line in tool(*args, stdin=wire).splitlines()]


def as_messages(raw_events):
    events = []
    for e in raw_events:
        if e["type"] == "close":
            events.append(("close", e["code"], bytes.fromhex(e["reason"])))
        elif e["type"] == "error":
            events.append(("error", e["close_code"]))
        else:
            events.append((e["type"], bytes.fromhex(e["data"])))
    return events


def our_decode(wire, role, **kw):
    return as_messages(our_decode_raw(wire, role, **kw))


def our_encode(messages, role, deflate=None, fragment=0, plain=()):
    """Our frames for `messages`; indexes in `plain` are sent uncompressed."""
    lines = []
    for i, m in enumerate(messages):
        if m[0] == "close":
            lines.append(f"close {m[1]} {m[2].hex() or '-'}")
        else:
            lines.append(f"{m[0]} {m[1].hex() or '-'}" + (" plain" if i in plain else ""))
    args = ["encode", "--role", role, "--fragment", str(fragment)]
    if deflate is not None:
        args += ["--deflate", params_arg(deflate)]
    return tool(*args, stdin="\n".join(lines).encode() + b"\n")


def py_frames(messages, fragment=0):
    """websockets Frames for `messages`, data split into frames of at most `fragment` bytes."""
    frames = []
    for m in messages:
        if m[0] == "close":
            frames.append(Frame(OP_CLOSE, struct.pack("!H", m[1]) + m[2]))
        elif m[0] in ("ping", "pong") or not fragment or len(m[1]) <= fragment:
            frames.append(Frame(OPCODES[m[0]], m[1]))
        else:
            parts = [m[1][i : i + fragment] for i in range(0, len(m[1]), fragment)]
            for i, part in enumerate(parts):
                op = OPCODES[m[0]] if i == 0 else OP_CONT
                frames.append(Frame(op, part, fin=i == len(parts) - 1))
    return frames


def py_serialize(frames, mask, extensions=None):
    return b"".join(f.serialize(mask=mask, extensions=extensions) for f in frames)


def _run(gen):
    """Runs a websockets generator-based coroutine that must not wait for more data."""
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("coroutine wants more data")


def py_parse(wire, mask, extensions=None):
    """websockets' Frame.parse over all of `wire` (mask=True: we are the server)."""
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    frames = []
    while not _run(reader.at_eof()):
        parse = Frame.parse(reader.read_exact, mask=mask, max_size=None, extensions=extensions)
        frames.append(_run(parse))
    return frames


def py_messages(frames):
    """Reassembles websockets frames into messages, checking UTF-8 and close payloads as a
    websockets connection would."""
    messages, op, parts = [], None, []
    for f in frames:
        if f.opcode is OP_CLOSE:
            close = Close.parse(f.data)
            messages.append(("close", close.code, close.reason.encode()))
        elif f.opcode in (OP_PING, OP_PONG):
            messages.append(("ping" if f.opcode is OP_PING else "pong", bytes(f.data)))
        else:
            assert (f.opcode is OP_CONT) == (op is not None), "bad fragmentation"
            op = f.opcode if op is None else op
            parts.append(bytes(f.data))
            if f.fin:
                data = b"".join(parts)
                if op is OP_TEXT:
                    data.decode("utf-8")  # raises on invalid UTF-8
                messages.append(("text" if op is OP_TEXT else "binary", data))
                op, parts = None, []
    assert op is None, "unfinished message"
    return messages


def split_frames(wire):
    """A third, minimal frame splitter (neither ours nor websockets'): [(first byte, mask key or
    None, payload as sent)]."""
    out, pos = [], 0
    while pos < len(wire):
        b0, b1 = wire[pos], wire[pos + 1]
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            n, pos = struct.unpack("!H", wire[pos : pos + 2])[0], pos + 2
        elif n == 127:
            n, pos = struct.unpack("!Q", wire[pos : pos + 8])[0], pos + 8
        key = None
        if b1 & 0x80:
            key, pos = wire[pos : pos + 4], pos + 4
        out.append((b0, key, wire[pos : pos + n]))
        pos += n
    assert pos == len(wire)
    return out


def masked(first_byte, payload, key=b"\x37\xfa\x21\x3d", length_field=None):
    """A hand-made client frame, for what websockets refuses to write (reserved opcodes and
    bits, long or unfinished control frames); `length_field` overrides the length bytes."""
    n = len(payload)
    if length_field is None:
        length_field = (
            bytes([n]) if n < 126
            else b"\x7e" + struct.pack("!H", n) if n < 65536
            else b"\x7f" + struct.pack("!Q", n)
        )
    masked_len = bytes([length_field[0] | 0x80]) + length_field[1:]
    return bytes([first_byte]) + masked_len + key + apply_mask(payload, key)


# ---------------------------------------------------------------------------------------------
# Frames without compression
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 1, 7, 4096])
def test_python_client_frames_decode_in_our_server(chunk):
    wire = py_serialize(py_frames(BASIC), mask=True)
    assert our_decode(wire, "server", chunk=chunk) == BASIC


@pytest.mark.parametrize("chunk", [0, 3])
def test_python_server_frames_decode_in_our_client(chunk):
    wire = py_serialize(py_frames(BASIC), mask=False)
    assert our_decode(wire, "client", chunk=chunk) == BASIC


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("chunk", [0, 1, 5])
def test_fragmented_messages_with_interleaved_control_frames(role, chunk):
    snowmen = "☃☃☃".encode()  # fragment boundaries fall inside code points
    frames = [
        Frame(OP_TEXT, snowmen[:1], fin=False),
        Frame(OP_PING, b"a"),
        Frame(OP_CONT, snowmen[1:4], fin=False),
        Frame(OP_PONG, b"b"),
        Frame(OP_CONT, b"", fin=False),
        Frame(OP_CONT, snowmen[4:]),
        Frame(OP_BINARY, b"\x00\x01", fin=False),
        Frame(OP_PING, b""),
        Frame(OP_CONT, b"\x02"),
        Frame(OP_TEXT, b"", fin=False),
        Frame(OP_CONT, b""),
        Frame(OP_CLOSE, b""),
    ]
    wire = py_serialize(frames, mask=role == "server")
    assert our_decode(wire, role, chunk=chunk) == [
        ("ping", b"a"),
        ("pong", b"b"),
        ("text", snowmen),
        ("ping", b""),
        ("binary", b"\x00\x01\x02"),
        ("text", b""),
        ("close", 1005, b""),
    ]


@pytest.mark.parametrize(
    "code,reason",
    [(1000, ""), (1001, "bye ☃"), (1011, "x" * 123), (3000, "é" * 61 + "x"), (4999, "𝄞")],
)
def test_close_codes_and_reasons_both_ways(code, reason):
    python_close = Frame(OP_CLOSE, Close(code, reason).serialize()).serialize(mask=True)
    assert our_decode(python_close, "server") == [("close", code, reason.encode())]
    ours = our_encode([("close", code, reason.encode())], "server")
    assert ours == Frame(OP_CLOSE, Close(code, reason).serialize()).serialize(mask=False)
    assert py_messages(py_parse(ours, mask=False)) == [("close", code, reason.encode())]


def test_our_close_reason_is_truncated_on_a_utf8_boundary():
    reason = "é" * 100  # 200 bytes; 123 would end inside the 62nd "é"
    frames = py_parse(our_encode([("close", 1000, reason.encode())], "client"), mask=True)
    assert py_messages(frames) == [("close", 1000, ("é" * 61).encode())]


@pytest.mark.parametrize("fragment", [0, 1000])
def test_our_client_frames_parse_in_python_server(fragment):
    frames = py_parse(our_encode(BASIC, "client", fragment=fragment), mask=True)
    assert py_messages(frames) == BASIC
    if fragment:  # BASIC[3], 75000 bytes of "€": 75 frames, code points cut between them
        text = frames[3:78]
        assert [f.opcode for f in text] == [OP_TEXT] + [OP_CONT] * 74
        assert [f.fin for f in text] == [False] * 74 + [True]
        assert {len(f.data) for f in text} == {1000}


@pytest.mark.parametrize("fragment", [0, 1000])
def test_our_server_frames_parse_in_python_client(fragment):
    frames = py_parse(our_encode(BASIC, "server", fragment=fragment), mask=False)
    assert py_messages(frames) == BASIC


def test_our_server_frames_are_byte_identical_to_python():
    # Unmasked frames have exactly one valid encoding (minimal lengths, RFC 6455 §5.2).
    for fragment in (0, 1000, 65536):
        expected = py_serialize(py_frames(BASIC, fragment), mask=False)
        assert our_encode(BASIC, "server", fragment=fragment) == expected


def test_our_client_frames_are_byte_identical_given_the_same_masks():
    ours = our_encode(BASIC, "client", fragment=30000)
    keys = [key for _, key, _ in split_frames(ours)]
    assert all(keys) and len(set(keys)) == len(keys), "a fresh mask key for every frame"
    with mock.patch("websockets.frames.secrets.token_bytes", side_effect=keys):
        assert py_serialize(py_frames(BASIC, 30000), mask=True) == ours


# ---------------------------------------------------------------------------------------------
# Refused input: the close code we would send
# ---------------------------------------------------------------------------------------------


def pyf(op, data, fin=True, mask=True):
    return Frame(op, data, fin=fin).serialize(mask=mask)


ERROR_CASES = {
    # name: (wire, role, expected events)
    "unmasked client frame": (pyf(OP_TEXT, b"hi", mask=False), "server", [("error", 1002)]),
    "masked server frame": (pyf(OP_TEXT, b"hi"), "client", [("error", 1002)]),
    "invalid utf-8": (pyf(OP_TEXT, b"ok\xc3\x28"), "server", [("error", 1007)]),
    "utf-16 surrogate": (pyf(OP_TEXT, b"\xed\xa0\x80"), "server", [("error", 1007)]),
    "overlong utf-8": (pyf(OP_TEXT, b"\xc0\xaf"), "server", [("error", 1007)]),
    "code point cut at message end": (pyf(OP_TEXT, b"\xe2\x98"), "server", [("error", 1007)]),
    "invalid utf-8 across fragments": (
        pyf(OP_TEXT, b"a", fin=False) + pyf(OP_PING, b"p") + pyf(OP_CONT, b"\xe2")
        + pyf(OP_CONT, b"\x28"),
        "server",
        [("ping", b"p"), ("error", 1007)],
    ),
    "good message then invalid utf-8": (
        pyf(OP_TEXT, b"fine") + pyf(OP_TEXT, b"\xff"),
        "server",
        [("text", b"fine"), ("error", 1007)],
    ),
    "reserved data opcode 3": (masked(0x83, b"x"), "server", [("error", 1002)]),
    "reserved control opcode 0xB": (masked(0x8B, b""), "server", [("error", 1002)]),
    "rsv1 without an extension": (masked(0xC1, b"x"), "server", [("error", 1002)]),
    "rsv2": (masked(0xA2, b"x"), "server", [("error", 1002)]),
    "ping of 126 bytes": (masked(0x89, b"p" * 126), "server", [("error", 1002)]),
    "fragmented ping": (masked(0x09, b"p"), "server", [("error", 1002)]),
    "continuation without a message": (pyf(OP_CONT, b"x"), "server", [("error", 1002)]),
    "new message inside a fragmented one": (
        pyf(OP_TEXT, b"a", fin=False) + pyf(OP_BINARY, b"b"),
        "server",
        [("error", 1002)],
    ),
    "close payload of one byte": (pyf(OP_CLOSE, b"\x03"), "server", [("error", 1002)]),
    "close code 1005 on the wire": (pyf(OP_CLOSE, b"\x03\xed"), "server", [("error", 1002)]),
    "close code 999": (pyf(OP_CLOSE, b"\x03\xe7"), "server", [("error", 1002)]),
    "close code 5000": (pyf(OP_CLOSE, b"\x13\x88"), "server", [("error", 1002)]),
    "close reason not utf-8": (pyf(OP_CLOSE, b"\x03\xe8\xff"), "server", [("error", 1007)]),
    "frame after close": (
        pyf(OP_CLOSE, b"\x03\xe8") + pyf(OP_TEXT, b"late"),
        "server",
        [("close", 1000, b""), ("error", 1002)],
    ),
    # websockets accepts the next two; RFC 6455 §5.2 says "MUST", and wsgate refuses (policy in
    # ws_frame.hpp: a relaying proxy must not let two byte strings mean the same frame).
    "16-bit length below 126": (
        masked(0x82, b"abcde", length_field=b"\x7e\x00\x05"),
        "server",
        [("error", 1002)],
    ),
    "64-bit length below 65536": (
        masked(0x82, b"abcde", length_field=b"\x7f" + struct.pack("!Q", 5)),
        "server",
        [("error", 1002)],
    ),
    "64-bit length with the high bit set": (
        masked(0x82, b"", length_field=b"\x7f" + struct.pack("!Q", 1 << 63)),
        "server",
        [("error", 1002)],
    ),
}


@pytest.mark.parametrize("name", list(ERROR_CASES))
@pytest.mark.parametrize("chunk", [0, 1])
def test_refused_input_gets_the_rfc_close_code(name, chunk):
    wire, role, expected = ERROR_CASES[name]
    assert our_decode(wire, role, chunk=chunk) == expected


def test_python_rejects_what_we_reject_as_a_protocol_error():
    # Cross-check a few 1002 cases against websockets' own connection logic.
    for name in ["unmasked client frame", "reserved data opcode 3", "fragmented ping",
                 "continuation without a message", "close code 1005 on the wire"]:
        conn = ServerConnection(state=OPEN)
        conn.receive_data(ERROR_CASES[name][0])
        assert conn.close_sent is not None and conn.close_sent.code == 1002, name


def test_message_size_limit():
    wire = pyf(OP_BINARY, b"x" * 1000) + pyf(OP_BINARY, b"y" * 1001)
    assert our_decode(wire, "server", max_message=1000) == [
        ("binary", b"x" * 1000),
        ("error", 1009),
    ]
    wire = pyf(OP_TEXT, b"a" * 600, fin=False) + pyf(OP_CONT, b"b" * 401)
    assert our_decode(wire, "server", max_message=1000) == [("error", 1009)]


# ---------------------------------------------------------------------------------------------
# permessage-deflate (RFC 7692)
# ---------------------------------------------------------------------------------------------

# (server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
#  client_max_window_bits)
DEFLATE_PARAMS = [
    (False, False, 15, 15),
    (True, True, 15, 15),
    (False, False, 9, 9),
    (True, False, 9, 15),
    (False, True, 15, 9),
    (False, False, 10, 12),
    (True, True, 11, 13),
    (False, False, 14, 10),
]

_json = compressible(3000)
DEFLATE_MESSAGES = [
    ("text", b"first message"),
    ("text", MULTIBYTE * 40),
    ("text", b""),
    ("binary", b""),
    ("binary", rand_bytes(70000)),  # incompressible: stored blocks
    ("ping", b"still alive"),
    ("binary", _json),
    ("binary", _json),  # with context takeover: mostly one back-reference
    ("text", MULTIBYTE * 40),
    ("binary", compressible(1 << 20)),
    ("close", 1000, b"done"),
]


def python_pmd(params, side):
    """websockets' PerMessageDeflate for `side` ("client"/"server") of an agreed session."""
    snct, cnct, sbits, cbits = params
    if side == "client":
        return PerMessageDeflate(snct, cnct, sbits, cbits)
    return PerMessageDeflate(cnct, snct, cbits, sbits)


def assert_compressed_on_wire(wire):
    for b0, _, _ in split_frames(wire):
        if b0 & 0x0F in (OP_TEXT, OP_BINARY):
            assert b0 & 0x40, "data message sent without RSV1"


@pytest.mark.parametrize("params", DEFLATE_PARAMS)
def test_deflate_python_to_us(params):
    for side, our_role in (("client", "server"), ("server", "client")):
        pmd = python_pmd(params, side)
        wire = py_serialize(py_frames(DEFLATE_MESSAGES), mask=side == "client", extensions=[pmd])
        assert_compressed_on_wire(wire)
        events = our_decode_raw(wire, our_role, deflate=params)
        assert as_messages(events) == DEFLATE_MESSAGES
        assert all(e["compressed"] for e in events if e["type"] in ("text", "binary"))


@pytest.mark.parametrize("params", DEFLATE_PARAMS)
def test_deflate_us_to_python(params):
    for our_role, side in (("client", "server"), ("server", "client")):
        wire = our_encode(DEFLATE_MESSAGES, our_role, deflate=params)
        assert_compressed_on_wire(wire)
        frames = py_parse(wire, mask=our_role == "client", extensions=[python_pmd(params, side)])
        assert py_messages(frames) == DEFLATE_MESSAGES


@pytest.mark.parametrize("params", DEFLATE_PARAMS[:4])
@pytest.mark.parametrize("chunk", [0, 1])
def test_deflate_fragmented_both_ways(params, chunk):
    # websockets compresses each fragment separately (a sync flush per frame); we compress the
    # whole message and cut the compressed bytes. Both must inflate on the other side.
    messages = DEFLATE_MESSAGES[:9] + DEFLATE_MESSAGES[10:]
    wire = py_serialize(
        py_frames(messages, fragment=700), mask=True, extensions=[python_pmd(params, "client")]
    )
    assert our_decode(wire, "server", deflate=params, chunk=chunk) == messages
    wire = our_encode(messages, "server", deflate=params, fragment=700)
    frames = py_parse(wire, mask=False, extensions=[python_pmd(params, "client")])
    split = split_frames(wire)
    assert all(len(payload) <= 700 for _, _, payload in split)
    assert all(b0 & 0x40 == 0 for b0, _, _ in split if b0 & 0x0F == 0), "RSV1 on a continuation"
    assert sum(b0 & 0x0F == 0 for b0, _, _ in split) >= 99  # 70000 random bytes: 100+ frames
    assert py_messages(frames) == messages


@pytest.mark.parametrize("params", [DEFLATE_PARAMS[0], DEFLATE_PARAMS[3]])
def test_deflate_mixed_with_uncompressed_messages(params):
    # A message sent without RSV1 leaves both compression contexts untouched (RFC 7692 §6.1).
    plain = {1, 4, 6}
    wire = our_encode(DEFLATE_MESSAGES, "client", deflate=params, plain=plain)
    rsv1 = [b0 & 0x40 != 0 for b0, _, _ in split_frames(wire) if b0 & 0x0F in (1, 2)]
    data_indexes = [i for i, m in enumerate(DEFLATE_MESSAGES) if m[0] in ("text", "binary")]
    assert rsv1 == [i not in plain for i in data_indexes]
    frames = py_parse(wire, mask=True, extensions=[python_pmd(params, "server")])
    assert py_messages(frames) == DEFLATE_MESSAGES


def test_deflate_output_is_byte_identical_to_python():
    # Same zlib, same settings (level 6, memLevel 8, raw deflate, sync flush, tail removed):
    # websockets and wsgate produce the same bytes. A difference here is not an interop bug by
    # itself, but it would mean one side changed its compression settings.
    for params in DEFLATE_PARAMS:
        expected = py_serialize(
            py_frames(DEFLATE_MESSAGES), mask=False, extensions=[python_pmd(params, "server")]
        )
        assert our_encode(DEFLATE_MESSAGES, "server", deflate=params) == expected, params


DEFLATE_ERRORS = {
    "rsv1 on a continuation frame": (
        masked(0x41, b"\x00", key=b"\0\0\0\0") + masked(0xC0, b"\x00"),
        [("error", 1002)],
    ),
    "rsv1 on a ping": (masked(0xC9, b""), [("error", 1002)]),
    "corrupt deflate data": (masked(0xC2, b"\xff\xff\xff"), [("error", 1007)]),
    "deflate data cut inside a block": (masked(0xC2, b"\xf2\x48\xcd"), [("error", 1007)]),
}


@pytest.mark.parametrize("name", list(DEFLATE_ERRORS))
def test_deflate_refused_input(name):
    wire, expected = DEFLATE_ERRORS[name]
    assert our_decode(wire, "server", deflate=DEFLATE_PARAMS[0]) == expected


def test_deflate_python_text_inflating_to_invalid_utf8():
    pmd = python_pmd(DEFLATE_PARAMS[0], "client")
    wire = py_serialize([Frame(OP_TEXT, b"ok"), Frame(OP_TEXT, b"bad \xff")], True, [pmd])
    assert our_decode(wire, "server", deflate=DEFLATE_PARAMS[0]) == [
        ("text", b"ok"),
        ("error", 1007),
    ]


def test_deflate_bomb_is_capped_by_the_inflated_size():
    pmd = python_pmd(DEFLATE_PARAMS[0], "client")
    wire = py_serialize([Frame(OP_BINARY, b"\x00" * 100000)], True, [pmd])
    assert len(wire) < 1000
    assert our_decode(wire, "server", deflate=DEFLATE_PARAMS[0], max_message=100000) == [
        ("binary", b"\x00" * 100000)
    ]
    assert our_decode(wire, "server", deflate=DEFLATE_PARAMS[0], max_message=99999) == [
        ("error", 1009)
    ]


# ---------------------------------------------------------------------------------------------
# Opening handshake (RFC 6455 §4) and permessage-deflate negotiation (RFC 7692 §5, §7.1)
# ---------------------------------------------------------------------------------------------


def params_of(pmd, side):
    """websockets' negotiated PerMessageDeflate as our (snct, cnct, sbits, cbits) dict."""
    local = (pmd.local_no_context_takeover, pmd.local_max_window_bits)
    remote = (pmd.remote_no_context_takeover, pmd.remote_max_window_bits)
    server, client = (local, remote) if side == "server" else (remote, local)
    return {
        "server_no_context_takeover": server[0],
        "client_no_context_takeover": client[0],
        "server_max_window_bits": server[1],
        "client_max_window_bits": client[1],
    }


def as_tuple(p):
    return (
        p["server_no_context_takeover"],
        p["client_no_context_takeover"],
        p["server_max_window_bits"],
        p["client_max_window_bits"],
    )


def dict_of(t):
    return dict(zip(["server_no_context_takeover", "client_no_context_takeover",
                     "server_max_window_bits", "client_max_window_bits"], t))


# (python client offers: factory kwargs, one dict per offer, or None; our server flags; expected
# params or None)
PY_CLIENT_CASES = [
    ({}, [], (False, False, 15, 15)),
    (
        dict(server_no_context_takeover=True, client_no_context_takeover=True,
             server_max_window_bits=10, client_max_window_bits=12),
        [],
        (True, True, 10, 12),
    ),
    (
        {},
        ["--server-no-context-takeover", "--client-no-context-takeover",
         "--server-max-window-bits", "11", "--client-max-window-bits", "9"],
        (True, True, 11, 9),
    ),
    (dict(client_max_window_bits=None), ["--client-max-window-bits", "10"], (False, False, 15, 15)),
    (dict(client_max_window_bits=13), ["--client-max-window-bits", "10"], (False, False, 15, 10)),
    (dict(server_max_window_bits=12), ["--server-max-window-bits", "10"], (False, False, 10, 15)),
    (dict(server_max_window_bits=8), [], None),  # we never compress within 8 bits: declined
    # The first offer is declined, the second accepted (RFC 7692 §5.1).
    ([dict(server_max_window_bits=8), dict(client_no_context_takeover=True)], [],
     (False, True, 15, 15)),
    (None, [], None),
    ({}, ["--no-deflate"], None),
]


@pytest.mark.parametrize("factory,flags,expected", PY_CLIENT_CASES)
def test_python_client_handshake_with_our_server(factory, flags, expected):
    offers = [factory] if isinstance(factory, dict) else factory
    extensions = None if offers is None else [ClientPerMessageDeflateFactory(**o) for o in offers]
    client = ClientConnection(
        parse_uri("ws://example.com:8080/chat?room=1"),
        origin="https://example.com",
        extensions=extensions,
        subprotocols=["chat.v2", "chat"],
    )
    client.send_request(client.connect())
    request = b"".join(client.data_to_send())
    ours = json.loads(
        tool("server-handshake", "--subprotocols", "chat,chat.v2", *flags, stdin=request)
    )
    assert "error" not in ours, ours

    client.receive_data(bytes.fromhex(ours["response"]))
    [response] = client.events_received()
    assert client.handshake_exc is None, client.handshake_exc
    assert response.status_code == 101 and client.state is OPEN
    assert client.subprotocol == ours["subprotocol"] == "chat"  # our (server) preference wins
    if expected is None:
        assert ours["params"] is None and ours["extensions"] is None and client.extensions == []
        return
    [pmd] = client.extensions
    assert as_tuple(ours["params"]) == expected
    assert params_of(pmd, "client") == ours["params"]

    # Talk over the session both sides believe in.
    messages = [("text", MULTIBYTE), ("binary", compressible(50000)), ("text", MULTIBYTE)]
    for kind, data in messages:
        (client.send_text if kind == "text" else client.send_binary)(data)
    assert our_decode(b"".join(client.data_to_send()), "server", deflate=expected) == messages
    client.receive_data(our_encode(messages, "server", deflate=expected))
    assert py_messages(client.events_received()) == messages


# (our client flags, python server factory kwargs or None, expected params or None)
OUR_CLIENT_CASES = [
    ([], {}, (False, False, 15, 15)),
    (["--client-max-window-bits", "10"], {}, (False, False, 15, 10)),
    (["--server-no-context-takeover", "--server-max-window-bits", "12"], {}, (True, False, 12, 15)),
    (["--client-no-context-takeover"], {}, (False, True, 15, 15)),
    (
        [],
        dict(server_no_context_takeover=True, client_no_context_takeover=True,
             server_max_window_bits=9, client_max_window_bits=11),
        (True, True, 9, 11),
    ),
    (["--client-max-window-bits", "9"], dict(client_max_window_bits=12), (False, False, 15, 9)),
    (["--server-max-window-bits", "10"], dict(server_max_window_bits=13), (False, False, 10, 15)),
    (["--no-deflate"], {}, None),
    ([], None, None),
]


@pytest.mark.parametrize("flags,factory,expected", OUR_CLIENT_CASES)
def test_our_client_handshake_with_python_server(flags, factory, expected):
    request = tool("client-request", "--host", "example.com:8080", "--target", "/chat?room=1",
                   "--subprotocols", "chat,chat.v2", *flags)
    extensions = None if factory is None else [ServerPerMessageDeflateFactory(**factory)]
    server = ServerConnection(extensions=extensions, subprotocols=["chat.v2"])
    server.receive_data(request)
    [req] = server.events_received()
    assert req.path == "/chat?room=1" and req.headers["Host"] == "example.com:8080"
    response = server.accept(req)
    assert server.handshake_exc is None, server.handshake_exc
    assert response.status_code == 101
    server.send_response(response)

    key = req.headers["Sec-WebSocket-Key"]
    ours = json.loads(tool("client-verify", "--key", key, "--subprotocols", "chat,chat.v2", *flags,
                           stdin=b"".join(server.data_to_send())))
    assert "error" not in ours, ours
    assert ours["subprotocol"] == server.subprotocol == "chat.v2"  # our second choice
    if expected is None:
        assert ours["params"] is None and server.extensions == []
        return
    [pmd] = server.extensions
    assert as_tuple(ours["params"]) == expected
    assert params_of(pmd, "server") == ours["params"]

    messages = [("text", MULTIBYTE), ("binary", compressible(50000)), ("text", MULTIBYTE)]
    server.receive_data(our_encode(messages, "client", deflate=expected))
    assert py_messages(server.events_received()) == messages
    for kind, data in messages:
        (server.send_text if kind == "text" else server.send_binary)(data)
    assert our_decode(b"".join(server.data_to_send()), "client", deflate=expected) == messages


def test_our_client_refuses_a_client_window_of_8_bits():
    # websockets may answer client_max_window_bits=8; zlib cannot compress raw deflate within
    # 8 bits, so wsgate fails the connection (documented in ws_extensions.hpp).
    request = tool("client-request")
    server = ServerConnection(extensions=[ServerPerMessageDeflateFactory(client_max_window_bits=8)])
    server.receive_data(request)
    [req] = server.events_received()
    server.send_response(server.accept(req))
    ours = json.loads(tool("client-verify", "--key", req.headers["Sec-WebSocket-Key"],
                           stdin=b"".join(server.data_to_send())))
    assert list(ours) == ["error"] and "client_max_window_bits=8" in ours["error"], ours
