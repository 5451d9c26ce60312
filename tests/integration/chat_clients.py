"""Helpers for the chat route's integration tests (test_chat.py): JWTs minted here with the
standard library (HS256) or the openssl CLI (RS256, ES256), independent of the server's own JWT
code, and a small asyncio client over Python `websockets` that speaks the protocol of
docs/CHAT.md ("Chat").

ChatClient keeps every message it receives in order; `recv_type("ack")` returns the next one of
that type, keeping the others in `inbox` for later `recv_type` calls (or for the test to look at),
so a test can wait for what it wants while presence events and deliveries arrive in between."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

import socket

from websockets.exceptions import ConnectionClosed

from conftest import (OP_CLOSE, OP_TEXT, Reader, frame, read_frame, read_response,
                      upgrade_request, ws_accept, ws_connect, ws_key)

SECRET = "chat-test-secret-0123456789"  # >= 16 bytes, as the route requires
OPENSSL = "/usr/bin/openssl"


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def claims(sub, name=None, guild=None, device=None, ttl=3600, **extra):
    """A claims dict: `sub`, optional name/guild/device, `exp` = now + ttl (None: no exp)."""
    c = {"sub": sub}
    if name is not None:
        c["name"] = name
    if guild is not None:
        c["guild"] = guild
    if device is not None:
        c["device"] = device
    if ttl is not None:
        c["exp"] = int(time.time()) + ttl
    c.update(extra)
    return c


def hs256(payload, secret=SECRET, header=None):
    """An HS256 JWT of `payload` (a dict) signed with `secret`."""
    head = _segment(header or {"alg": "HS256", "typ": "JWT"})
    body = _segment(payload)
    signing_input = f"{head}.{body}".encode()
    key = secret.encode() if isinstance(secret, str) else secret
    sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def token(sub, secret=SECRET, **kw):
    """Shorthand: an HS256 token for user `sub` (keywords as in claims())."""
    return hs256(claims(sub, **kw), secret)


def alg_none(payload):
    """An unsigned token (alg "none", empty signature)."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."


def _openssl(*args, input=None):
    p = subprocess.run([OPENSSL, *args], input=input, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def _der_length(data, i):
    n = data[i]
    i += 1
    if n < 0x80:
        return n, i
    k = n & 0x7F
    return int.from_bytes(data[i:i + k], "big"), i + k


def der_ecdsa_to_raw(der, size=32):
    """An ECDSA signature as DER (SEQUENCE { INTEGER r, INTEGER s }) to JOSE's raw r || s."""
    assert der[0] == 0x30, "not a DER SEQUENCE"
    _, i = _der_length(der, 1)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02, "not a DER INTEGER"
        n, i = _der_length(der, i + 1)
        v = der[i:i + n].lstrip(b"\x00")
        assert len(v) <= size
        out += v.rjust(size, b"\x00")
        i += n
    return out


class KeyPair:
    """A key pair made by `openssl genpkey` in `directory`: kind "rsa" (RS256, 2048 bits) or
    "ec" (ES256, P-256). `public_pem` is the path of the public key for `jwt_public_key`."""

    def __init__(self, directory, kind):
        self.kind = kind
        self.private_pem = os.path.join(directory, f"{kind}_private.pem")
        self.public_pem = os.path.join(directory, f"{kind}_public.pem")
        if kind == "rsa":
            _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                     "-out", self.private_pem)
            self.alg = "RS256"
        elif kind == "ec":
            _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", self.private_pem)
            self.alg = "ES256"
        else:
            raise ValueError(kind)
        _openssl("pkey", "-in", self.private_pem, "-pubout", "-out", self.public_pem)

    def sign(self, payload, alg=None):
        head = _segment({"alg": alg or self.alg, "typ": "JWT"})
        body = _segment(payload)
        signing_input = f"{head}.{body}".encode()
        sig = _openssl("dgst", "-sha256", "-sign", self.private_pem, input=signing_input)
        if self.kind == "ec":
            sig = der_ecdsa_to_raw(sig)
        return f"{head}.{body}.{b64url(sig)}"


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class ChatClient:
    """One chat connection. Use `await ChatClient.open(srv, ...)` or the login helpers below."""

    def __init__(self, ws):
        self.ws = ws
        self.inbox = []  # messages received but not yet returned by recv_type / recv_any
        self.all = []  # every message received, in order
        self.welcome = None
        self.non_json = []  # text frames that were not JSON (must stay empty)
        self.binary = []  # binary frames (must stay empty: every chat message is text)

    @classmethod
    async def open(cls, srv, path="/chat", headers=None, subprotocols=None, timeout=10, **kw):
        kw.setdefault("max_size", 32 << 20)
        if headers:
            kw["extra_headers"] = headers
        if subprotocols:
            kw["subprotocols"] = subprotocols
        ws = await asyncio.wait_for(ws_connect(srv, path, **kw), timeout)
        return cls(ws)

    # --- sending ---

    async def send(self, obj, timeout=10):
        data = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
        await asyncio.wait_for(self.ws.send(data), timeout)

    async def say(self, channel, text, local_id=None, timeout=10):
        m = {"type": "say", "channel": channel, "text": text}
        if local_id is not None:
            m["local_id"] = local_id
        await self.send(m, timeout)

    async def dm(self, to, text, local_id=None, timeout=10):
        m = {"type": "dm", "to": to, "text": text}
        if local_id is not None:
            m["local_id"] = local_id
        await self.send(m, timeout)

    async def join(self, channel, since=None, timeout=10):
        m = {"type": "join", "channel": channel}
        if since is not None:
            m["since"] = since
        await self.send(m, timeout)

    # --- receiving ---

    async def _read_one(self, timeout):
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            self.binary.append(raw)
            return None
        try:
            msg = json.loads(raw)
        except ValueError:
            self.non_json.append(raw)
            return None
        self.all.append(msg)
        return msg

    async def recv_any(self, timeout=5):
        """The next message (from the inbox first)."""
        if self.inbox:
            return self.inbox.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            msg = await self._read_one(max(0.001, deadline - time.monotonic()))
            if msg is not None:
                return msg

    async def recv_type(self, type_, timeout=5, pred=None):
        """The next message whose "type" is `type_` (and for which pred(msg) holds, if given);
        other messages stay in the inbox in order. TimeoutError if none within `timeout`."""
        for i, m in enumerate(self.inbox):
            if m.get("type") == type_ and (pred is None or pred(m)):
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(
                    f"no {type_!r} message within {timeout} s; inbox: {self.inbox[-10:]}")
            try:
                msg = await self._read_one(left)
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(
                    f"no {type_!r} message within {timeout} s; inbox: {self.inbox[-10:]}") \
                    from None
            if msg is None:
                continue
            if msg.get("type") == type_ and (pred is None or pred(msg)):
                return msg
            self.inbox.append(msg)

    async def request(self, obj, type_, timeout=5, pred=None):
        """Sends `obj` and returns the next message of type `type_`."""
        await self.send(obj)
        return await self.recv_type(type_, timeout, pred)

    async def expect_error(self, obj, code, timeout=5):
        err = await self.request(obj, "error", timeout)
        assert err.get("code") == code, f"after {obj!r}: expected error {code!r}, got {err!r}"
        assert isinstance(err.get("message", ""), str), err
        return err

    async def quiet(self, type_=None, window=0.3):
        """Asserts nothing (or nothing of `type_`) arrives within `window` seconds."""
        got = [m for m in self.inbox if type_ is None or m.get("type") == type_]
        assert not got, f"unexpected {got!r}"
        try:
            while True:
                msg = await self._read_one(window)
                if msg is None:
                    continue
                if type_ is None or msg.get("type") == type_:
                    raise AssertionError(f"unexpected message {msg!r}")
                self.inbox.append(msg)
        except asyncio.TimeoutError:
            pass

    async def wait_closed(self, timeout=5):
        """Reads (keeping messages) until the server closes; returns (code, reason)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError()
                msg = await self._read_one(left)
                if msg is not None:
                    self.inbox.append(msg)
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise AssertionError(f"the server did not close within {timeout} s; received: "
                                 f"{self.inbox[-10:]}") from None
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        return self.close_code, self.close_reason

    @property
    def close_code(self):
        rcvd = self.ws.close_rcvd
        return rcvd.code if rcvd is not None else None

    @property
    def close_reason(self):
        rcvd = self.ws.close_rcvd
        return rcvd.reason if rcvd is not None else None

    async def close(self, timeout=5):
        try:
            await asyncio.wait_for(self.ws.close(), timeout)
        except (asyncio.TimeoutError, ConnectionClosed, OSError):
            pass


async def login(srv, tok, method="header", path="/chat", timeout=10, **kw):
    """A logged-in ChatClient: the token given by `method` ("header", "query", "subprotocol",
    "message"); waits for the welcome (kept as client.welcome)."""
    headers = None
    subprotocols = None
    if method == "header":
        headers = {"Authorization": f"Bearer {tok}"}
    elif method == "query":
        path = f"{path}{'&' if '?' in path else '?'}token={tok}"
    elif method == "subprotocol":
        subprotocols = ["wsgate.chat", f"bearer.{tok}"]
    elif method != "message":
        raise ValueError(method)
    c = await ChatClient.open(srv, path, headers=headers, subprotocols=subprotocols,
                              timeout=timeout, **kw)
    if method == "message":
        await c.send({"type": "login", "token": tok})
    c.welcome = await c.recv_type("welcome", timeout)
    return c


async def login_user(srv, user, method="header", path="/chat", secret=SECRET, timeout=10,
                     **claim_kw):
    """login() with an HS256 token for `user`."""
    return await login(srv, token(user, secret, **claim_kw), method, path, timeout)


def channel_seq(welcome, channel):
    for ch in welcome.get("channels", []):
        if ch.get("channel") == channel:
            return ch.get("seq")
    raise AssertionError(f"no channel {channel!r} in {welcome!r}")


# ---------------------------------------------------------------------------------------------
# A raw-socket chat client (for a receiver that must stop reading for real)
# ---------------------------------------------------------------------------------------------


class RawChat:
    """A chat login on a plain blocking socket, with an optional small SO_RCVBUF set before
    connect (so the TCP window stays small and a client that stops reading is quickly behind).
    Reads are explicit: nothing is read unless the test calls recv()."""

    def __init__(self, srv, tok, path="/chat", rcvbuf=None, timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", srv.port))
        key = ws_key()
        self.sock.sendall(upgrade_request(path, key,
                                          extra=[("Authorization", f"Bearer {tok}")]))
        self.reader = Reader(self.sock)
        resp = read_response(self.reader, head_request=True)
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == ws_accept(key), resp
        self.inbox = []
        self.close_code = None
        self.close_reason = None
        self.welcome = self.recv_type("welcome")

    def send(self, obj):
        self.sock.sendall(frame(OP_TEXT, json.dumps(obj)))

    def recv(self):
        """The next JSON message; on the server's close frame sets close_code and raises
        EOFError."""
        while True:
            fin, _rsv, op, payload = read_frame(self.reader)
            if op == OP_CLOSE:
                if len(payload) >= 2:
                    self.close_code = int.from_bytes(payload[:2], "big")
                    self.close_reason = payload[2:].decode(errors="replace")
                raise EOFError(f"close {self.close_code}")
            if op == OP_TEXT:
                data = payload
                while not fin:
                    fin, _rsv, _op, more = read_frame(self.reader)
                    data += more
                return json.loads(data)
            # pings (the route pings only if configured) and anything else: skipped

    def recv_type(self, type_):
        for i, m in enumerate(self.inbox):
            if m.get("type") == type_:
                return self.inbox.pop(i)
        while True:
            m = self.recv()
            if m.get("type") == type_:
                return m
            self.inbox.append(m)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
