"""kind = "chat": the hosted chat route against the protocol of docs/CHAT.md ("Chat"), driven by
Python `websockets` clients (chat_clients.py), raw sockets where a client must stop reading for
real, and a Node.js `ws` client (chat_node_client.js).

Tokens are minted here (HS256 with hmac/hashlib; RS256 and ES256 with the openssl CLI), not by
the server's code. Covered: the four ways to log in and the welcome; 401 before the upgrade for
tokens that do not verify; close 1008 for a bad or missing login message; the path form
/chat/{user}/conn/{device}; issuer, audience and leeway; 1,000 clients in one room over 2
workers (every message exactly once, in seq order, seq contiguous, ids unique); the three
duplicate_login policies; direct messages; cooldown and the rate/burst bucket; reconnect recovery
with `since` (with and without a gap, rooms and world); max_online; presence, who, leave, room
patterns, max_rooms, mute; errors that do not close (and close with close_on_error); slow
receivers under both backpressure policies with RSS bounded; SIGHUP keeping users and history;
and interop with Node's `ws`."""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from websockets.exceptions import ConnectionClosed

from chat_clients import (SECRET, ChatClient, KeyPair, RawChat, alg_none, channel_seq, claims,
                          hs256, login, login_user, token)
from conftest import SANITIZED, http_exchange, run_async, upgrade_request

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = shutil.which("node") or "/usr/bin/node"
NODE_PATH = "/usr/share/nodejs"


def chat_route(path="/chat", **kw):
    r = {"path": path, "kind": "chat", "jwt_secret": SECRET}
    r.update(kw)
    return r


def run(coro, timeout=30):
    return run_async(coro, timeout)


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture(autouse=True)
def _no_crash_in_log(request):
    """After every test (and after the servers stopped): no failed CHECK, sanitizer report or
    crash in any server's log."""
    yield
    for srv in getattr(request.node, "_wsgate_servers", []):
        log = srv.log()
        bad = [ln for ln in log.splitlines()
               if re.search(r"CHECK|AddressSanitizer|LeakSanitizer|runtime error|terminate called|"
                            r"Segmentation|Aborted", ln)]
        assert not bad, "server log reports a failure:\n" + "\n".join(bad[:20])


def upgrade_status(srv, path, extra=()):
    """The HTTP status of an upgrade request (a raw socket, so any status is seen as sent)."""
    resp, reader = http_exchange(srv, upgrade_request(path, extra=list(extra)))
    reader.sock.close()
    return resp


def check_message(m, channel, frm, text, **more):
    assert m.get("type") == "message", m
    assert m.get("channel") == channel, m
    assert m.get("from") == frm, m
    assert m.get("text") == text, m
    assert isinstance(m.get("id"), int) and isinstance(m.get("seq"), int), m
    assert isinstance(m.get("ts"), int) and abs(m["ts"] - now_ms()) < 60_000, m
    for k, v in more.items():
        assert m.get(k) == v, (k, m)


async def say_acked(c, channel, text, local_id=None, timeout=5):
    await c.say(channel, text, local_id)
    ack = await c.recv_type("ack", timeout)
    assert ack.get("channel") == channel, ack
    if local_id is not None:
        assert ack.get("local_id") == local_id, ack
    return ack


async def join(c, channel, since=None, timeout=5):
    await c.join(channel, since)
    j = await c.recv_type("joined", timeout, pred=lambda m: m.get("channel") == channel)
    return j


async def retry_login(srv, tok, timeout=5, **kw):
    """login() again and again until it is welcomed (the server may take a moment to notice a
    closed session); returns the client."""
    deadline = time.monotonic() + timeout
    while True:
        c = await ChatClient.open(srv, headers={"Authorization": f"Bearer {tok}"}, **kw)
        try:
            c.welcome = await c.recv_type("welcome", 2)
            return c
        except Exception:
            await c.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


# =============================================================================================
# 1. Logging in
# =============================================================================================


@pytest.mark.parametrize("method", ["header", "query", "subprotocol", "message"])
def test_login_methods_and_welcome(wsgate, method):
    srv = wsgate([chat_route()], server={"workers": 2})

    async def go():
        tok = token("u1", name="Ann", guild="g1", device="web")
        c = await login(srv, tok, method)
        w = c.welcome
        assert w["type"] == "welcome"
        assert (w["user"], w["name"], w["guild"], w["device"]) == ("u1", "Ann", "g1", "web"), w
        assert isinstance(w["session"], str) and w["session"], w
        chans = {ch["channel"]: ch["seq"] for ch in w["channels"]}
        assert chans == {"world": 0, "guild": 0}, w
        if method == "subprotocol":
            assert c.ws.subprotocol == "wsgate.chat"
            values = c.ws.response_headers.get_all("Sec-WebSocket-Protocol")
            assert values == ["wsgate.chat"], values
        # Logged in for real: the session answers and can post.
        pong = await c.request({"type": "ping"}, "pong")
        assert isinstance(pong.get("ts"), int)
        ack = await say_acked(c, "world", "hello", "c1")
        assert ack["seq"] == 1 and isinstance(ack["id"], int), ack

        # Defaults: name = the user id, device "default", no guild -> only world.
        d = await login(srv, token("u2"), method)
        w2 = d.welcome
        assert (w2["user"], w2["name"], w2["device"]) == ("u2", "u2", "default"), w2
        assert w2.get("guild") in (None, ""), w2
        assert [ch["channel"] for ch in w2["channels"]] == ["world"], w2
        assert channel_seq(w2, "world") == 1, w2  # the world message above
        assert w2["session"] != w["session"]
        await c.close()
        await d.close()
    run(go())


def test_subprotocol_is_selected_and_token_never_echoed_raw(wsgate):
    srv = wsgate([chat_route()])
    tok = token("u1")
    for offer in (f"wsgate.chat, bearer.{tok}", f"bearer.{tok}, wsgate.chat"):
        resp = upgrade_status(srv, "/chat", [("Sec-WebSocket-Protocol", offer)])
        assert resp.status == 101, resp
        assert resp.all("sec-websocket-protocol") == ["wsgate.chat"], resp
        assert tok not in repr(resp.headers)

    # Only wsgate.chat offered (no token): selected, and a login message then works.
    async def go():
        c = await ChatClient.open(srv, subprotocols=["wsgate.chat"])
        assert c.ws.subprotocol == "wsgate.chat"
        await c.send({"type": "login", "token": tok})
        w = await c.recv_type("welcome")
        assert w["user"] == "u1"
        await c.close()
    run(go())


def test_token_sources_first_match_wins(wsgate):
    srv = wsgate([chat_route()])

    async def go():
        ta, tb, tc = token("ua"), token("ub"), token("uc")
        # header beats query beats subprotocol
        c = await ChatClient.open(srv, f"/chat?token={tb}",
                                  headers={"Authorization": f"Bearer {ta}"},
                                  subprotocols=["wsgate.chat", f"bearer.{tc}"])
        assert (await c.recv_type("welcome"))["user"] == "ua"
        d = await ChatClient.open(srv, f"/chat?token={tb}",
                                  subprotocols=["wsgate.chat", f"bearer.{tc}"])
        assert (await d.recv_type("welcome"))["user"] == "ub"
        await c.close()
        await d.close()
    run(go())


def bad_tokens():
    now = int(time.time())
    return {
        "bad_signature": hs256(claims("u1"), "another-secret-0123456789"),
        "tampered": token("u1")[:-3] + ("AAA" if not token("u1").endswith("AAA") else "BBB"),
        "expired": hs256(claims("u1", ttl=-120)),
        "not_yet_valid": hs256(dict(claims("u1"), nbf=now + 600)),
        "alg_none": alg_none(claims("u1")),
        "alg_none_with_sig": alg_none(claims("u1")) + token("u1").split(".")[2],
        "hs512_header": hs256(claims("u1"), header={"alg": "HS512", "typ": "JWT"}),
        "no_sub": hs256({"exp": now + 600}),
        "garbage": "not.a.jwt",
        "two_parts": token("u1").rsplit(".", 1)[0],
    }


@pytest.mark.parametrize("where", ["header", "query", "subprotocol"])
def test_bad_tokens_on_the_upgrade_get_401(wsgate, where):
    srv = wsgate([chat_route()])
    for name, tok in bad_tokens().items():
        if where == "header":
            resp = upgrade_status(srv, "/chat", [("Authorization", f"Bearer {tok}")])
        elif where == "query":
            resp = upgrade_status(srv, f"/chat?token={tok}")
        else:
            resp = upgrade_status(srv, "/chat",
                                  [("Sec-WebSocket-Protocol", f"wsgate.chat, bearer.{tok}")])
        assert resp.status == 401, f"{name} ({where}): {resp}"
    # And a good one still passes the same way.
    resp = upgrade_status(srv, "/chat", [("Authorization", f"Bearer {token('u1')}")])
    assert resp.status == 101, resp


def test_bad_login_message_closes_1008(wsgate):
    srv = wsgate([chat_route()])
    cases = dict(bad_tokens())
    cases = {f"token {k}": {"type": "login", "token": v} for k, v in cases.items()}
    cases["missing token"] = {"type": "login"}
    cases["token not a string"] = {"type": "login", "token": 42}
    cases["not JSON"] = "this is not JSON"

    async def one(name, msg):
        c = await ChatClient.open(srv)
        await c.send(msg)
        code, reason = await c.wait_closed(5)
        assert code == 1008, f"{name}: close {code} {reason!r}, inbox {c.inbox}"
        assert reason, f"{name}: close 1008 without a reason"
        assert not any(m.get("type") == "welcome" for m in c.all), f"{name}: {c.all}"

    async def go():
        results = await asyncio.gather(*(one(k, v) for k, v in cases.items()),
                                       return_exceptions=True)
        failures = [str(r) for r in results if isinstance(r, BaseException)]
        assert not failures, "\n".join(failures)
    run(go())


def test_message_before_login_is_not_served(wsgate):
    """Before the login, a chat message gets error not_logged_in (errors do not close) or, if
    the server counts it as a bad login message, close 1008 with a reason; never a delivery."""
    srv = wsgate([chat_route()])

    async def go():
        watcher = await login_user(srv, "watcher")
        c = await ChatClient.open(srv)
        await c.say("world", "sneaky")
        try:
            m = await c.recv_any(5)
        except ConnectionClosed:
            code, reason = await c.wait_closed()
            assert code == 1008 and reason, (code, reason)
        else:
            assert m.get("type") == "error" and m.get("code") == "not_logged_in", m
            # Still open, and it can log in now.
            await c.send({"type": "login", "token": token("late")})
            assert (await c.recv_type("welcome"))["user"] == "late"
        await watcher.quiet("message", 0.3)
        await c.close()
        await watcher.close()
    run(go())


def test_no_login_within_login_timeout_closes_1008(wsgate):
    srv = wsgate([chat_route(login_timeout="1s")])

    async def go():
        c = await ChatClient.open(srv)
        t0 = time.monotonic()
        code, reason = await c.wait_closed(6)
        elapsed = time.monotonic() - t0
        assert code == 1008 and reason, (code, reason)
        assert 0.8 <= elapsed <= 4.0, elapsed
        # A client that logs in in time is not closed.
        d = await ChatClient.open(srv)
        await d.send({"type": "login", "token": token("u1")})
        await d.recv_type("welcome")
        await asyncio.sleep(1.5)  # past login_timeout on purpose
        assert (await d.request({"type": "ping"}, "pong"))["type"] == "pong"
        await d.close()
    run(go())


def test_path_form_user_and_device(wsgate):
    srv = wsgate([chat_route(duplicate_login="multi_device")])

    async def go():
        c = await login(srv, token("u1", device="web"), "header", path="/chat/u1/conn/phone")
        assert c.welcome["user"] == "u1" and c.welcome["device"] == "phone", c.welcome
        d = await login(srv, token("u1"), "query", path="/chat/u1/conn/tablet")
        assert d.welcome["device"] == "tablet", d.welcome
        # Both devices online (multi_device): a dm reaches both.
        e = await login_user(srv, "u2")
        await e.dm("u1", "to both", "x")
        assert (await e.recv_type("ack"))["delivered"] == 2
        for x in (c, d):
            check_message(await x.recv_type("message"), "dm", "u2", "to both", to="u1")
        for x in (c, d, e):
            await x.close()
    run(go())
    for path in ("/chat/u2/conn/phone", "/chat/U1/conn/phone"):
        resp = upgrade_status(srv, path, [("Authorization", f"Bearer {token('u1')}")])
        assert resp.status == 403, f"{path}: {resp}"
    resp = upgrade_status(srv, "/chat/u1/conn/phone",
                          [("Authorization", f"Bearer {token('u1', secret='x' * 20)}")])
    assert resp.status == 401, resp


def test_issuer_and_audience(wsgate):
    srv = wsgate([chat_route(jwt_issuer="https://idp.test", jwt_audience="chat-app")])
    good = [dict(iss="https://idp.test", aud="chat-app"),
            dict(iss="https://idp.test", aud=["other", "chat-app"])]
    bad = [dict(iss="https://idp.test"), dict(aud="chat-app"),
           dict(iss="https://evil.test", aud="chat-app"),
           dict(iss="https://idp.test", aud="other"),
           dict(iss="https://idp.test", aud=["other", "x"]),
           dict(iss="https://idp.test/", aud="chat-app")]
    for extra in good:
        tok = hs256(claims("u1", **extra))
        resp = upgrade_status(srv, "/chat", [("Authorization", f"Bearer {tok}")])
        assert resp.status == 101, f"{extra}: {resp}"
    for extra in bad:
        tok = hs256(claims("u1", **extra))
        resp = upgrade_status(srv, "/chat", [("Authorization", f"Bearer {tok}")])
        assert resp.status == 401, f"{extra}: {resp}"

    async def go():  # and by login message: 1008
        c = await ChatClient.open(srv)
        await c.send({"type": "login", "token": hs256(claims("u1", iss="https://evil.test",
                                                             aud="chat-app"))})
        assert (await c.wait_closed())[0] == 1008
        d = await ChatClient.open(srv)
        await d.send({"type": "login", "token": hs256(claims("u1", **good[0]))})
        assert (await d.recv_type("welcome"))["user"] == "u1"
        await d.close()
    run(go())


def test_leeway(wsgate):
    srv = wsgate([chat_route("/strict"), chat_route("/lenient", jwt_leeway="30s")])
    now = int(time.time())
    cases = [  # (claims extra, strict status, lenient status)
        (dict(exp=now - 10), 401, 101),
        (dict(exp=now - 120), 401, 401),
        (dict(exp=now + 600, nbf=now + 10), 401, 101),
        (dict(exp=now + 600, nbf=now + 120), 401, 401),
        (dict(exp=now + 600, nbf=now - 5), 101, 101),
    ]
    for extra, strict, lenient in cases:
        tok = hs256(dict({"sub": "u1"}, **extra))
        for path, want in (("/strict", strict), ("/lenient", lenient)):
            resp = upgrade_status(srv, path, [("Authorization", f"Bearer {tok}")])
            assert resp.status == want, f"{path} {extra}: {resp}"


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_public_key_tokens(wsgate, tmp_path, kind):
    if not os.access("/usr/bin/openssl", os.X_OK):
        pytest.skip("no openssl CLI")
    keys = KeyPair(str(tmp_path), kind)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = KeyPair(str(other_dir), kind)
    srv = wsgate([{"path": "/chat", "kind": "chat", "jwt_public_key": keys.public_pem}])

    async def go():
        c = await login(srv, keys.sign(claims("u1", name="Kay")), "header")
        assert (c.welcome["user"], c.welcome["name"]) == ("u1", "Kay")
        d = await login(srv, keys.sign(claims("u2")), "message")
        assert d.welcome["user"] == "u2"
        await say_acked(c, "world", "signed elsewhere")
        check_message(await d.recv_type("message"), "world", "u1", "signed elsewhere")
        await c.close()
        await d.close()
    run(go())

    with open(keys.public_pem) as f:
        pem = f.read()
    bad = {
        "other key": other.sign(claims("u1")),
        "expired": keys.sign(claims("u1", ttl=-120)),
        "alg none": alg_none(claims("u1")),
        "HS256 with the public key as secret": hs256(claims("u1"), pem),
        "HS256 with the route's nothing": token("u1"),
        "wrong alg name": keys.sign(claims("u1"), alg="ES256" if kind == "rsa" else "RS256"),
    }
    for name, tok in bad.items():
        resp = upgrade_status(srv, "/chat", [("Authorization", f"Bearer {tok}")])
        assert resp.status == 401, f"{name}: {resp}"


# =============================================================================================
# 2. 1,000 clients in one room
# =============================================================================================


def test_thousand_clients_in_one_room(wsgate):
    srv = wsgate([chat_route(rate=0, presence="off", max_rooms=4)], server={"workers": 2})
    n_clients, n_senders, n_msgs = 1000, 3, 30
    total = n_senders * n_msgs

    async def go():
        t0 = time.monotonic()
        sem = asyncio.Semaphore(64)

        async def connect(i):
            async with sem:
                c = await login_user(srv, f"user{i:04d}", timeout=20)
                j = await join(c, "big", timeout=20)
                assert j["seq"] == 0, j
                return c

        clients = await asyncio.gather(*(connect(i) for i in range(n_clients)))
        sessions = {c.welcome["session"] for c in clients}
        assert len(sessions) == n_clients
        t_connected = time.monotonic() - t0
        senders = clients[:n_senders]

        async def send_all(k, c):
            for i in range(n_msgs):
                await c.say("big", f"s{k}-m{i}", f"s{k}-{i}")

        async def collect(idx, c):
            own = idx < n_senders
            want_msgs = total - (n_msgs if own else 0)
            msgs, acks = [], []
            while len(msgs) < want_msgs or (own and len(acks) < n_msgs):
                m = await c.recv_any(30)
                if m.get("type") == "message":
                    msgs.append(m)
                elif m.get("type") == "ack":
                    acks.append(m)
                else:
                    raise AssertionError(f"client {idx}: unexpected {m}")
            return msgs, acks

        collectors = [asyncio.create_task(collect(i, c)) for i, c in enumerate(clients)]
        await asyncio.gather(*(send_all(k, c) for k, c in enumerate(senders)))
        results = await asyncio.gather(*collectors)

        # Flush: anything beyond the expected (duplicates) would come before the pong.
        async def flush(c):
            await c.send({"type": "ping"})
            extra = []
            while True:
                m = await c.recv_any(10)
                if m.get("type") == "pong":
                    return extra
                extra.append(m)
        extras = await asyncio.gather(*(flush(c) for c in clients))
        assert not any(extras), [e for e in extras if e][:3]

        # The sender acks define seq and id of every message.
        by_seq = {}
        for k, (_msgs, acks) in enumerate(results[:n_senders]):
            assert [a["local_id"] for a in acks] == [f"s{k}-{i}" for i in range(n_msgs)]
            for i, a in enumerate(acks):
                assert a["channel"] == "big"
                assert a["seq"] not in by_seq, f"seq {a['seq']} acked twice"
                by_seq[a["seq"]] = (a["id"], f"user{k:04d}", f"s{k}-m{i}")
        assert sorted(by_seq) == list(range(1, total + 1)), sorted(by_seq)
        ids = [v[0] for v in by_seq.values()]
        assert len(set(ids)) == total, "ids not unique"
        for k in range(n_senders):  # a sender's messages get increasing seqs, in its order
            seqs = [s for s, v in sorted(by_seq.items()) if v[1] == f"user{k:04d}"]
            texts = [by_seq[s][2] for s in seqs]
            assert texts == [f"s{k}-m{i}" for i in range(n_msgs)], texts

        for idx, (msgs, _acks) in enumerate(results):
            seqs = [m["seq"] for m in msgs]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), \
                f"client {idx}: seqs out of order or repeated: {seqs}"
            own_user = f"user{idx:04d}"
            want = [s for s in range(1, total + 1) if by_seq[s][1] != own_user]
            assert seqs == want, f"client {idx}: got seqs {seqs}"
            for m in msgs:
                mid, frm, text = by_seq[m["seq"]]
                assert (m["id"], m["from"], m["text"], m["channel"]) == (mid, frm, text, "big"), m
        elapsed = time.monotonic() - t0
        assert elapsed < 60, f"took {elapsed:.1f} s (connect {t_connected:.1f} s)"
        await asyncio.gather(*(c.close() for c in clients))
    run(go(), 90)


# =============================================================================================
# 3. Duplicate logins
# =============================================================================================


def test_duplicate_login_kick_old(wsgate):
    srv = wsgate([chat_route(), chat_route("/cd", cooldown="3s")])

    async def go():
        watcher = await login_user(srv, "w")
        old = await login_user(srv, "u1", name="Old")
        new = await login_user(srv, "u1", name="New")
        kicked = await old.recv_type("kicked")
        assert kicked == {"type": "kicked", "reason": "logged in elsewhere"}, kicked
        code, _ = await old.wait_closed()
        assert code == 4001, code
        assert not any(m.get("type") == "message" for m in old.inbox)
        # The new one works and is the only u1.
        await say_acked(new, "world", "i am new")
        m = await watcher.recv_type("message")
        check_message(m, "world", "u1", "i am new", name="New")
        await watcher.send({"type": "who", "channel": "world"})
        members = await watcher.recv_type("members")
        assert members["count"] == 2, members
        assert sorted(x["user"] for x in members["members"]) == ["u1", "w"], members
        await watcher.dm("u1", "to u1", "d")
        assert (await watcher.recv_type("ack"))["delivered"] == 1
        check_message(await new.recv_type("message"), "dm", "w", "to u1")

        # Cooldown state is the user's: a takeover does not reset it.
        a = await login_user(srv, "u9", path="/cd")
        await say_acked(a, "world", "first")
        b = await login_user(srv, "u9", path="/cd")
        assert (await a.wait_closed())[0] == 4001
        err = await b.expect_error({"type": "say", "channel": "world", "text": "second"},
                                   "rate_limited")
        assert 0 < err["retry_after_ms"] <= 3000, err
        for c in (watcher, new, b):
            await c.close()
    run(go())


def test_duplicate_login_reject_new(wsgate):
    srv = wsgate([chat_route(duplicate_login="reject_new")])

    async def go():
        old = await login_user(srv, "u1")
        for method in ("header", "message"):
            c = await ChatClient.open(srv, headers={"Authorization": f"Bearer {token('u1')}"}
                                      if method == "header" else None)
            if method == "message":
                await c.send({"type": "login", "token": token("u1")})
            code, reason = await c.wait_closed()
            assert (code, reason) == (4002, "already logged in"), (code, reason)
            assert not any(m.get("type") == "welcome" for m in c.all), c.all
        # The old one is unaffected.
        assert (await old.request({"type": "ping"}, "pong"))["type"] == "pong"
        await say_acked(old, "world", "still here")
        assert not any(m.get("type") == "kicked" for m in old.inbox + old.all)
        # Once it leaves, the user can log in again.
        await old.close()
        again = await retry_login(srv, token("u1"))
        assert again.welcome["user"] == "u1"
        await again.close()
    run(go())


def test_duplicate_login_multi_device(wsgate):
    srv = wsgate([chat_route(duplicate_login="multi_device")])

    async def go():
        phone = await login_user(srv, "u1", device="phone")
        web = await login_user(srv, "u1", device="web")
        other = await login_user(srv, "u2")
        await other.dm("u1", "hello devices", "m1")
        ack = await other.recv_type("ack")
        assert ack["delivered"] == 2 and ack["local_id"] == "m1", ack
        for c in (phone, web):
            check_message(await c.recv_type("message"), "dm", "u2", "hello devices", to="u1",
                          id=ack["id"], seq=ack["seq"])
        # A world message reaches each device once.
        await say_acked(other, "world", "to world")
        for c in (phone, web):
            check_message(await c.recv_type("message"), "world", "u2", "to world")

        # Same device again: replaces the first as kick_old; the other device stays.
        phone2 = await login_user(srv, "u1", device="phone")
        kicked = await phone.recv_type("kicked")
        assert kicked.get("reason") == "logged in elsewhere", kicked
        assert (await phone.wait_closed())[0] == 4001
        await other.dm("u1", "after replace", "m2")
        assert (await other.recv_type("ack"))["delivered"] == 2
        for c in (phone2, web):
            check_message(await c.recv_type("message"), "dm", "u2", "after replace")
        await web.quiet("kicked", 0.2)
        for c in (phone2, web, other):
            await c.close()
    run(go())


# =============================================================================================
# 4. Direct messages
# =============================================================================================


def test_direct_messages(wsgate):
    srv = wsgate([chat_route(duplicate_login="multi_device")])

    async def go():
        a1 = await login_user(srv, "alice", name="Alice", device="d1")
        a2 = await login_user(srv, "alice", name="Alice", device="d2")
        b1 = await login_user(srv, "bob", device="d1")
        b2 = await login_user(srv, "bob", device="d2")
        b3 = await login_user(srv, "bob", device="d3")
        carol = await login_user(srv, "carol")

        await a1.dm("bob", "hi bob", "c2")
        ack = await a1.recv_type("ack")
        assert ack["channel"] == "dm" and ack["local_id"] == "c2", ack
        assert ack["delivered"] == 3, ack  # bob's three devices
        assert ack["seq"] == 1, ack
        for c in (b1, b2, b3):
            check_message(await c.recv_type("message"), "dm", "alice", "hi bob", to="bob",
                          name="Alice", id=ack["id"], seq=1)
        # Echoed to the sender's other device, not to the sending connection.
        check_message(await a2.recv_type("message"), "dm", "alice", "hi bob", to="bob", seq=1)
        await a1.quiet("message", 0.3)
        await carol.quiet("message", 0.1)

        # The pair's seq goes on in both directions; another pair starts at 1.
        await b2.dm("alice", "hi alice", "r1")
        back = await b2.recv_type("ack")
        assert back["seq"] == 2 and back["delivered"] == 2, back
        for c in (a1, a2):
            check_message(await c.recv_type("message"), "dm", "bob", "hi alice", to="alice",
                          seq=2)
        for c in (b1, b3):
            check_message(await c.recv_type("message"), "dm", "bob", "hi alice", seq=2)
        await carol.dm("bob", "from carol")
        c_ack = await carol.recv_type("ack")
        assert c_ack["seq"] == 1 and c_ack["delivered"] == 3, c_ack
        assert len({ack["id"], back["id"], c_ack["id"]}) == 3

        # Offline receiver: delivered 0, and nothing stored for it.
        await a1.dm("nobody", "hello?", "c3")
        off = await a1.recv_type("ack")
        assert off["delivered"] == 0 and off["local_id"] == "c3", off
        nobody = await login_user(srv, "nobody")
        await nobody.quiet("message", 0.3)
        for c in (a1, a2, b1, b2, b3, carol, nobody):
            await c.close()
    run(go())


# =============================================================================================
# 5. Cooldown and rate
# =============================================================================================


def test_cooldown(wsgate):
    srv = wsgate([chat_route(cooldown="1s", rate=0)])

    async def go():
        a = await login_user(srv, "a")
        b = await login_user(srv, "b")
        await join(a, "lobby")
        t0 = time.monotonic()
        await say_acked(a, "world", "one")
        err = await a.expect_error({"type": "say", "channel": "world", "text": "two"},
                                   "rate_limited")
        assert isinstance(err.get("retry_after_ms"), int), err
        assert 0 < err["retry_after_ms"] <= 1000, err
        # Per channel: another channel is not cooling down; neither is another user.
        await say_acked(a, "lobby", "elsewhere")
        await say_acked(b, "world", "b speaks")
        # b sees "one" and not "two".
        m = await b.recv_type("message")
        check_message(m, "world", "a", "one")
        await b.quiet("message", 0.2)
        # After the cooldown: accepted again.
        wait = max(err["retry_after_ms"] / 1000, 1.0 - (time.monotonic() - t0)) + 0.05
        await asyncio.sleep(wait)
        await say_acked(a, "world", "three")
        check_message(await b.recv_type("message"), "world", "a", "three")
        await a.close()
        await b.close()
    run(go())


def test_rate_and_burst(wsgate):
    srv = wsgate([chat_route(rate=2, burst=3)])

    async def go():
        a = await login_user(srv, "a")
        b = await login_user(srv, "b")
        await join(a, "lobby")
        # The bucket is per user over all channels: 2 in world + 1 dm, the 4th (a room) waits.
        await a.say("world", "1", "l1")
        await a.say("world", "2", "l2")
        await a.dm("b", "3", "l3")
        await a.say("lobby", "4", "l4")
        got = [await a.recv_type("ack") for _ in range(3)]
        assert [g["local_id"] for g in got] == ["l1", "l2", "l3"], got
        err = await a.recv_type("error")
        assert err["code"] == "rate_limited", err
        assert isinstance(err.get("retry_after_ms"), int) and 0 < err["retry_after_ms"] <= 600, err
        await a.quiet("ack", 0.05)
        # Later ones pass after waiting.
        await asyncio.sleep(err["retry_after_ms"] / 1000 + 0.05)
        await say_acked(a, "lobby", "5", "l5")
        await asyncio.sleep(0.55)
        await say_acked(a, "world", "6", "l6")
        texts = []
        while len(texts) < 4:
            m = await b.recv_type("message")
            texts.append(m["text"])
        assert texts == ["1", "2", "3", "6"], texts
        await a.close()
        await b.close()
    run(go())


# =============================================================================================
# 6. Reconnect recovery
# =============================================================================================


def test_reconnect_recovery_in_a_room_and_world(wsgate):
    srv = wsgate([chat_route(rate=0)])

    async def go():
        a = await login_user(srv, "a", guild="g1")
        b = await login_user(srv, "b", guild="g1")
        await join(a, "r")
        await join(b, "r")
        for i in range(3):
            await say_acked(b, "r", f"before{i}")
        await say_acked(b, "world", "w-before")
        await say_acked(b, "guild", "g-before")
        last = None
        while last is None or last["seq"] < 3:
            last = await a.recv_type("message", pred=lambda m: m["channel"] == "r")
        s_room = last["seq"]
        s_world = (await a.recv_type("message", pred=lambda m: m["channel"] == "world"))["seq"]
        s_guild = (await a.recv_type("message", pred=lambda m: m["channel"] == "guild"))["seq"]
        await a.close()

        sent = []
        for i in range(5):
            sent.append(await say_acked(b, "r", f"missed{i}"))
        w_sent = [await say_acked(b, "world", f"w-missed{i}") for i in range(2)]
        g_sent = [await say_acked(b, "guild", f"g-missed{i}") for i in range(2)]

        a2 = await login_user(srv, "a", guild="g1")
        assert channel_seq(a2.welcome, "world") == w_sent[-1]["seq"], a2.welcome
        assert channel_seq(a2.welcome, "guild") == g_sent[-1]["seq"], a2.welcome
        for ch, since, acks, prefix in (("r", s_room, sent, "missed"),
                                        ("world", s_world, w_sent, "w-missed"),
                                        ("guild", s_guild, g_sent, "g-missed")):
            await a2.join(ch, since)
            got = []
            while True:
                m = await a2.recv_any(5)
                if m.get("type") == "joined" and m.get("channel") == ch:
                    joined = m
                    break
                if m.get("type") == "presence":
                    continue
                got.append(m)
            assert [m.get("type") for m in got] == ["message"] * len(acks), (ch, got)
            for m, ack, i in zip(got, acks, range(len(acks))):
                check_message(m, ch, "b", f"{prefix}{i}", replay=True, seq=ack["seq"],
                              id=ack["id"])
            assert joined["seq"] == acks[-1]["seq"], joined
            assert not joined.get("gap"), joined
        # Live messages after the replay are not marked replay.
        await say_acked(b, "r", "live")
        m = await a2.recv_type("message", pred=lambda m: m["channel"] == "r")
        assert m["text"] == "live" and not m.get("replay"), m
        await a2.close()
        await b.close()
    run(go())


def test_reconnect_recovery_with_gap(wsgate):
    srv = wsgate([chat_route(rate=0, history=3)])

    async def go():
        a = await login_user(srv, "a")
        b = await login_user(srv, "b")
        await join(a, "r")
        await join(b, "r")
        await say_acked(b, "r", "seen")
        s = (await a.recv_type("message"))["seq"]
        await a.close()
        acks = [await say_acked(b, "r", f"missed{i}") for i in range(5)]
        a2 = await login_user(srv, "a")
        await a2.join("r", s)
        got = []
        while True:
            m = await a2.recv_any(5)
            if m.get("type") == "joined":
                joined = m
                break
            if m.get("type") != "presence":
                got.append(m)
        assert [m["seq"] for m in got] == [a["seq"] for a in acks[-3:]], got
        assert all(m.get("replay") is True for m in got), got
        assert [m["text"] for m in got] == ["missed2", "missed3", "missed4"], got
        assert joined["seq"] == acks[-1]["seq"], joined
        assert joined.get("gap") is True and joined.get("oldest") == acks[-3]["seq"], joined
        await a2.close()
        await b.close()
    run(go())


def test_empty_room_keeps_its_history(wsgate):
    srv = wsgate([chat_route(rate=0)])

    async def go():
        a = await login_user(srv, "a")
        await join(a, "solo")
        acks = [await say_acked(a, "solo", f"t{i}") for i in range(3)]
        await a.request({"type": "leave", "channel": "solo"}, "left")
        await a.close()
        b = await login_user(srv, "b")
        await b.join("solo", 0)
        got = [await b.recv_type("message") for _ in range(3)]
        assert [m["text"] for m in got] == ["t0", "t1", "t2"], got
        assert [m["seq"] for m in got] == [x["seq"] for x in acks] == [1, 2, 3]
        j = await b.recv_type("joined")
        assert j["seq"] == 3 and not j.get("gap"), j
        await b.close()
    run(go())


# =============================================================================================
# 7. max_online
# =============================================================================================


def test_max_online(wsgate):
    srv = wsgate([chat_route(max_online=3)])

    async def go():
        users = [await login_user(srv, f"u{i}") for i in range(3)]
        c = await ChatClient.open(srv, headers={"Authorization": f"Bearer {token('u4')}"})
        code, reason = await c.wait_closed()
        assert (code, reason) == (1013, "server full"), (code, reason)
        # A login message counts the same.
        d = await ChatClient.open(srv)
        await d.send({"type": "login", "token": token("u5")})
        assert (await d.wait_closed())[0] == 1013
        # A second login of an online user (kick_old) is not a new user.
        again = await login_user(srv, "u0")
        assert (await users[0].wait_closed())[0] == 4001
        await say_acked(again, "world", "still three")
        # After one leaves, a new user fits.
        await users[1].close()
        u4 = await retry_login(srv, token("u4"))
        assert u4.welcome["user"] == "u4"
        for x in (again, users[2], u4):
            await x.close()
    run(go())


# =============================================================================================
# 8. Presence, who, leave, rooms, mute
# =============================================================================================


def test_presence_who_and_leave(wsgate):
    srv = wsgate([chat_route()])

    async def go():
        a = await login_user(srv, "a", name="Ann")
        b = await login_user(srv, "b", name="Bob")
        await join(a, "lobby")
        await a.quiet("presence", 0.2)  # presence "rooms": no world events on b's login
        j = await join(b, "lobby")
        assert j == {"type": "joined", "channel": "lobby", "seq": 0}, j
        p = await a.recv_type("presence")
        assert p == {"type": "presence", "channel": "lobby", "event": "join", "user": "b",
                     "name": "Bob"}, p
        await a.send({"type": "who", "channel": "lobby"})
        mem = await a.recv_type("members")
        assert mem["channel"] == "lobby" and mem["count"] == 2, mem
        assert sorted(mem["members"], key=lambda x: x["user"]) == [
            {"user": "a", "name": "Ann"}, {"user": "b", "name": "Bob"}], mem
        assert not mem.get("truncated"), mem

        left = await b.request({"type": "leave", "channel": "lobby"}, "left")
        assert left == {"type": "left", "channel": "lobby"}, left
        p = await a.recv_type("presence")
        assert (p["event"], p["user"], p["channel"]) == ("leave", "b", "lobby"), p
        mem = await a.request({"type": "who", "channel": "lobby"}, "members")
        assert mem["count"] == 1 and [m["user"] for m in mem["members"]] == ["a"], mem
        # Not a member any more: saying there is forbidden, and nothing is delivered.
        await b.expect_error({"type": "say", "channel": "lobby", "text": "x"}, "forbidden")
        await b.expect_error({"type": "say", "channel": "never-joined", "text": "x"},
                             "forbidden")
        await a.quiet("message", 0.2)
        # A member that disconnects leaves too.
        await join(b, "lobby")
        assert (await a.recv_type("presence"))["event"] == "join"
        await b.close()
        p = await a.recv_type("presence")
        assert (p["event"], p["user"]) == ("leave", "b"), p
        # who on world counts everyone online.
        c = await login_user(srv, "c")
        mem = await c.request({"type": "who", "channel": "world"}, "members")
        assert mem["count"] == 2 and sorted(m["user"] for m in mem["members"]) == ["a", "c"], mem
        await a.close()
        await c.close()
    run(go())


@pytest.mark.parametrize("mode", ["all", "off"])
def test_presence_modes(wsgate, mode):
    srv = wsgate([chat_route(presence=mode)])

    async def go():
        a = await login_user(srv, "a", guild="g1")
        await join(a, "lobby")
        b = await login_user(srv, "b", name="Bob", guild="g1")
        if mode == "all":
            got = {}
            for _ in range(2):
                p = await a.recv_type("presence")
                assert (p["event"], p["user"], p["name"]) == ("join", "b", "Bob"), p
                got[p["channel"]] = p
            assert sorted(got) == ["guild", "world"], got
        await join(b, "lobby")
        if mode == "all":
            p = await a.recv_type("presence")
            assert (p["channel"], p["event"], p["user"]) == ("lobby", "join", "b"), p
        await b.close()
        if mode == "all":
            chans = set()
            for _ in range(3):
                p = await a.recv_type("presence")
                assert (p["event"], p["user"]) == ("leave", "b"), p
                chans.add(p["channel"])
            assert chans == {"world", "guild", "lobby"}, chans
        else:
            await a.quiet("presence", 0.5)
        await a.close()
    run(go())


def test_room_names_and_max_rooms(wsgate):
    srv = wsgate([chat_route(rooms=["lobby", "team-*"], max_rooms=2),
                  chat_route("/norooms", rooms=[])])

    async def go():
        a = await login_user(srv, "a")
        # Names that do not match the patterns, or are not 1..64 bytes of A-Z a-z 0-9 _ - . :
        wrong = []
        for bad in ("other", "teams", "Lobby", "team", "bad name", "team-é", "team-" + "x" * 60,
                    "team-a/b"):
            err = await a.request({"type": "join", "channel": bad}, "error")
            if err.get("code") != "forbidden":
                wrong.append((bad, err))
        # An empty name may count as a missing field.
        err = await a.request({"type": "join", "channel": ""}, "error")
        assert err["code"] in ("forbidden", "bad_request"), err
        j = await join(a, "team-" + "x" * 59)  # 64 bytes: allowed
        assert j["channel"] == "team-" + "x" * 59
        await join(a, "lobby")
        await a.expect_error({"type": "join", "channel": "team-red"}, "too_many_rooms")
        # world and guild do not count; leaving makes room.
        await join(a, "world", since=0)
        await a.request({"type": "leave", "channel": "lobby"}, "left")
        await join(a, "team-red:1.x_y")
        # Not a member of a guild: forbidden.
        await a.expect_error({"type": "say", "channel": "guild", "text": "x"}, "forbidden")
        await a.close()
        n = await login_user(srv, "n", path="/norooms")
        await n.expect_error({"type": "join", "channel": "lobby"}, "forbidden")
        await say_acked(n, "world", "world still works")
        await n.close()
        assert not wrong, f"room names not answered with forbidden: {wrong}"
    run(go())


def test_guild_channel(wsgate):
    srv = wsgate([chat_route()])

    async def go():
        a = await login_user(srv, "a", guild="g1")
        b = await login_user(srv, "b", guild="g1")
        c = await login_user(srv, "c", guild="g2")
        d = await login_user(srv, "d")
        ack = await say_acked(a, "guild", "for g1")
        assert ack["seq"] == 1
        check_message(await b.recv_type("message"), "guild", "a", "for g1", guild="g1", seq=1)
        ack2 = await say_acked(c, "guild", "for g2")
        assert ack2["seq"] == 1, ack2  # per guild
        await b.quiet("message", 0.2)
        await d.quiet("message", 0.05)
        await d.expect_error({"type": "say", "channel": "guild", "text": "x"}, "forbidden")
        for x in (a, b, c, d):
            await x.close()
    run(go())


def test_mute_and_unmute(wsgate):
    srv = wsgate([chat_route(rate=0)])

    async def go():
        a = await login_user(srv, "a")
        b = await login_user(srv, "b")
        await join(a, "lobby")
        await join(b, "lobby")
        muted = await a.request({"type": "mute", "kind": "world"}, "muted")
        assert muted == {"type": "muted", "kinds": ["world"]}, muted
        await say_acked(b, "world", "muted away")
        await say_acked(b, "lobby", "room still on")
        m = await a.recv_type("message")
        check_message(m, "lobby", "b", "room still on")
        await a.quiet("message", 0.3)
        muted = await a.request({"type": "mute", "kind": "room"}, "muted")
        assert sorted(muted["kinds"]) == ["room", "world"], muted
        await say_acked(b, "lobby", "room muted")
        await b.dm("a", "dm still on")
        assert (await b.recv_type("ack"))["delivered"] == 1
        check_message(await a.recv_type("message"), "dm", "b", "dm still on")
        await a.quiet("message", 0.3)
        muted = await a.request({"type": "unmute", "kind": "world"}, "muted")
        assert muted["kinds"] == ["room"], muted
        await say_acked(b, "world", "back on")
        check_message(await a.recv_type("message"), "world", "b", "back on")
        muted = await a.request({"type": "unmute", "kind": "room"}, "muted")
        assert muted["kinds"] == [], muted
        await say_acked(b, "lobby", "room back")
        check_message(await a.recv_type("message"), "lobby", "b", "room back")
        # Muting only filters deliveries: the muted user can still speak.
        await say_acked(a, "world", "a speaks")
        await a.expect_error({"type": "mute", "kind": "nonsense"}, "bad_request")
        await a.close()
        await b.close()
    run(go())


def test_ping_pong_and_timestamps(wsgate):
    srv = wsgate([chat_route()])

    async def go():
        a = await login_user(srv, "a")
        for _ in range(3):
            ack = await say_acked(a, "world", "t")
            before = now_ms()
            pong = await a.request({"type": "ping"}, "pong")
            after = now_ms()
            assert before - 50 <= pong["ts"] <= after + 50, (before, pong, after)
            assert pong["ts"] >= ack["ts"] - 50, (ack, pong)
            await asyncio.sleep(0.2)
        await a.close()
    run(go())


# =============================================================================================
# 9. Errors
# =============================================================================================


ERROR_CASES = {
    "not JSON": ("{not json", "bad_request"),
    "JSON array": ("[1,2]", "bad_request"),
    "unknown type": ({"type": "dance"}, "bad_request"),
    "no type": ({"channel": "world", "text": "x"}, "bad_request"),
    "say without text": ({"type": "say", "channel": "world"}, "bad_request"),
    "say without channel": ({"type": "say", "text": "x"}, "bad_request"),
    "text not a string": ({"type": "say", "channel": "world", "text": 5}, "bad_request"),
    "dm without to": ({"type": "dm", "text": "x"}, "bad_request"),
    "binary message": (b'{"type":"ping"}', "bad_request"),
    "text too long": ({"type": "say", "channel": "world", "text": "x" * 101}, "too_long"),
    "text too long in bytes": ({"type": "say", "channel": "world", "text": "é" * 51},
                               "too_long"),
    "dm too long": ({"type": "dm", "to": "b", "text": "y" * 101}, "too_long"),
}


def test_errors_do_not_close_by_default(wsgate):
    srv = wsgate([chat_route(max_text_length=100, rate=0)])

    async def go():
        a = await login_user(srv, "a")
        b = await login_user(srv, "b")
        for name, (msg, code) in ERROR_CASES.items():
            err = await a.request(msg, "error")
            assert err["code"] == code, f"{name}: {err}"
            assert isinstance(err.get("message"), str), f"{name}: {err}"
            pong = await a.request({"type": "ping"}, "pong")  # still open
            assert pong["type"] == "pong", name
        await b.quiet("message", 0.2)  # nothing of it was delivered
        # The limit is inclusive: 100 bytes pass (50 two-byte characters too).
        await say_acked(a, "world", "x" * 100)
        await say_acked(a, "world", "é" * 50)
        assert (await b.recv_type("message"))["text"] == "x" * 100
        assert (await b.recv_type("message"))["text"] == "é" * 50
        assert a.ws.close_code is None
        await a.close()
        await b.close()
    run(go())


def test_close_on_error(wsgate):
    srv = wsgate([chat_route(max_text_length=100, close_on_error=True, rate=0),
                  chat_route("/strict", close_on_error=True, rooms=["lobby", "team-*"],
                             max_rooms=1, cooldown="5s")])

    async def one(name, msg, code):
        c = await login_user(srv, f"user-{abs(hash(name)) % 10**8}")
        await c.send(msg)
        got, reason = await c.wait_closed()
        assert got == 1008, f"{name}: close {got} {reason!r}"
        errors = [m for m in c.inbox if m.get("type") == "error"]
        assert [e["code"] for e in errors] == [code], f"{name}: {c.inbox}"

    async def go():
        results = await asyncio.gather(*(one(k, m, c) for k, (m, c) in ERROR_CASES.items()),
                                       return_exceptions=True)
        failures = [str(r) for r in results if isinstance(r, BaseException)]
        assert not failures, "\n".join(failures)
        # The other codes close too (each on a session of its own); a good message does not.
        async def case(name, setup, msg, code):
            c = await login_user(srv, name, path="/strict")
            for m, answer in setup:
                await c.request(m, answer)
            await c.send(msg)
            got, reason = await c.wait_closed()
            errors = [m for m in c.inbox if m.get("type") == "error"]
            assert got == 1008, f"{name}: close {got} {reason!r}; received {c.inbox}"
            assert [e["code"] for e in errors] == [code], f"{name}: {c.inbox}"

        say = {"type": "say", "channel": "world", "text": "x"}
        results = await asyncio.gather(
            case("room-not-allowed", [], {"type": "join", "channel": "nope"}, "forbidden"),
            case("not-a-member", [], {"type": "say", "channel": "lobby", "text": "x"},
                 "forbidden"),
            case("no-guild", [], {"type": "say", "channel": "guild", "text": "x"}, "forbidden"),
            case("too-many-rooms", [({"type": "join", "channel": "lobby"}, "joined")],
                 {"type": "join", "channel": "team-a"}, "too_many_rooms"),
            case("cooldown", [(say, "ack")], say, "rate_limited"),
            return_exceptions=True)
        failures = [str(r) for r in results if isinstance(r, BaseException)]
        assert not failures, "\n".join(failures)
        c = await login_user(srv, "ok")
        await say_acked(c, "world", "fine")
        await say_acked(c, "world", "fine again")
        assert (await c.request({"type": "ping"}, "pong"))["type"] == "pong"
        await c.close()
    run(go())


# =============================================================================================
# 10. Slow receivers
# =============================================================================================

FLOOD = 300  # messages
FLOOD_TEXT = 30_000  # bytes each: 9 MB in all, more than the kernel buffers hold
FLOOD_WINDOW = 4  # messages the sender may be ahead of the normal member (120 KB)


def _flood_server(wsgate, policy):
    # presence off: the slow one's queue holds chat messages only, so dropped counts them
    return wsgate([chat_route(rate=0, max_backpressure="64k", max_message_size="1m",
                              max_text_length="64k", history=10, presence="off",
                              backpressure_policy=policy)], server={"workers": 2})


async def _flood(srv, normal, sender):
    """The sender floods room "flood"; the normal member must get every message in order.

    The sender keeps at most FLOOD_WINDOW messages ahead of the normal member, so a busy
    machine that delays the normal reader never makes it a slow receiver too, while the slow
    one (which reads nothing) falls behind past max_backpressure within a few messages."""
    acks = []
    got = []

    async def send():
        for i in range(FLOOD):
            while i - len(got) >= FLOOD_WINDOW:
                await asyncio.sleep(0.002)
            await sender.say("flood", f"{i:05d}" + "z" * (FLOOD_TEXT - 5), str(i))

    async def ackall():
        while len(acks) < FLOOD:
            acks.append(await sender.recv_type("ack", 30))

    async def receive():
        while len(got) < FLOOD:
            got.append(await normal.recv_type("message", 30))

    await asyncio.gather(send(), ackall(), receive())
    assert [int(m["text"][:5]) for m in got] == list(range(FLOOD))
    assert [m["seq"] for m in got] == [a["seq"] for a in acks]
    return acks


def test_slow_receiver_disconnected(wsgate):
    srv = _flood_server(wsgate, "disconnect")
    slow = RawChat(srv, token("slow"), rcvbuf=8192)
    slow.send({"type": "join", "channel": "flood"})
    assert slow.recv_type("joined")["channel"] == "flood"

    async def go():
        normal = await login_user(srv, "normal")
        sender = await login_user(srv, "sender")
        await join(normal, "flood")
        await join(sender, "flood")
        rss0 = srv.rss_kib()
        await _flood(srv, normal, sender)
        rss1 = srv.rss_kib()
        # The server still serves new logins.
        late = await login_user(srv, "late")
        await late.close()
        await normal.close()
        await sender.close()
        return rss0, rss1
    rss0, rss1 = run(go(), 60)

    # The slow one was closed 1008: after what was in flight, the close frame.
    n = 0
    with pytest.raises(EOFError):
        while True:
            m = slow.recv()
            n += m.get("type") == "message"
    slow.close()
    assert slow.close_code == 1008, (slow.close_code, slow.close_reason)
    assert n < FLOOD, n
    if not SANITIZED:
        assert rss1 - rss0 < 8 * 1024, f"RSS grew {rss0} -> {rss1} KiB"


def test_slow_receiver_drop_oldest(wsgate):
    srv = _flood_server(wsgate, "drop_oldest")
    slow = RawChat(srv, token("slow"), rcvbuf=8192)
    slow.send({"type": "join", "channel": "flood"})
    assert slow.recv_type("joined")["channel"] == "flood"

    async def go():
        normal = await login_user(srv, "normal")
        sender = await login_user(srv, "sender")
        await join(normal, "flood")
        await join(sender, "flood")
        rss0 = srv.rss_kib()
        acks = await _flood(srv, normal, sender)
        rss1 = srv.rss_kib()
        await normal.close()
        await sender.close()
        return acks, rss0, rss1
    acks, rss0, rss1 = run(go(), 60)
    last_seq = acks[-1]["seq"]

    # It survived. Reading again, it gets what was kept, a dropped notice, and (the oldest
    # being dropped, not the newest) the last message. A ping's pong comes after all of it.
    msgs, dropped, other = [], [], []
    ended = None  # how the reading ended, if not with the pong
    slow.send({"type": "ping"})
    slow.sock.settimeout(5)
    try:
        while True:
            m = slow.recv()
            t = m.get("type")
            if t == "pong":
                break
            (msgs if t == "message" else dropped if t == "dropped" else other).append(m)
    except (TimeoutError, OSError, EOFError) as e:
        ended = repr(e)
    if ended is None:
        try:  # anything still on its way after the pong (there should be nothing)
            slow.sock.settimeout(1)
            while True:
                m = slow.recv()
                t = m.get("type")
                (msgs if t == "message" else dropped if t == "dropped" else other).append(m)
        except (TimeoutError, OSError, EOFError):
            pass
    slow.close()
    seqs = [m["seq"] for m in msgs]
    summary = (f"got {len(msgs)} of {FLOOD} messages, seqs {seqs[:3]}..{seqs[-3:]}, "
               f"dropped {[d.get('count') for d in dropped]}, other {other}, "
               f"close code {slow.close_code}, reading ended by {ended}")
    assert ended is None and slow.close_code is None, f"not served to the end: {summary}"
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), summary
    assert dropped, f"no dropped message; {summary}"
    assert all(isinstance(d.get("count"), int) and d["count"] > 0 for d in dropped), summary
    assert len(msgs) + sum(d["count"] for d in dropped) == FLOOD, summary
    assert seqs and seqs[-1] == last_seq, f"the newest message never came; {summary}"
    if not SANITIZED:
        assert rss1 - rss0 < 8 * 1024, f"RSS grew {rss0} -> {rss1} KiB"


# =============================================================================================
# 11. SIGHUP
# =============================================================================================


def test_sighup_keeps_users_and_history(wsgate):
    srv = wsgate([chat_route(rate=0)])

    async def go():
        a = await login_user(srv, "a")
        b = await login_user(srv, "b")
        await join(a, "h")
        await join(b, "h")
        await say_acked(b, "h", "before")
        s = (await a.recv_type("message"))["seq"]
        await a.close()
        missed = [await say_acked(b, "h", f"missed{i}") for i in range(3)]

        mark = len(srv.log())
        srv.routes[0]["cooldown"] = "0s"  # some change of the route
        srv.write_config()
        srv.signal(signal.SIGHUP)
        await asyncio.to_thread(srv.wait_log, r"reload: 1 route\(s\) in force", 5.0, mark)

        # b stayed online, in its room.
        assert (await b.request({"type": "ping"}, "pong"))["type"] == "pong"
        mem = await b.request({"type": "who", "channel": "h"}, "members")
        assert [m["user"] for m in mem["members"]] == ["b"], mem
        after = await say_acked(b, "h", "after")
        # a comes back and recovers everything since s, across the reload.
        a2 = await login_user(srv, "a")
        await a2.join("h", s)
        got = [await a2.recv_type("message") for _ in range(4)]
        assert [m["text"] for m in got] == ["missed0", "missed1", "missed2", "after"], got
        assert [m["seq"] for m in got] == [x["seq"] for x in missed + [after]], got
        j = await a2.recv_type("joined")
        assert j["seq"] == after["seq"], j
        # Duplicate login state survived too: b logging in again kicks the old b.
        b2 = await login_user(srv, "b")
        assert (await b.wait_closed())[0] == 4001
        await a2.close()
        await b2.close()
    run(go())


def test_sighup_changed_limits_apply_to_open_sessions(wsgate):
    """CONFIG.md: the chat's state is kept across SIGHUP reloads; changed limits apply to later
    messages (of sessions opened before the reload too)."""
    srv = wsgate([chat_route(rate=0)])

    async def go():
        old = await login_user(srv, "old")
        await say_acked(old, "world", "x" * 11)
        mark = len(srv.log())
        srv.routes[0]["max_text_length"] = 10
        srv.write_config()
        srv.signal(signal.SIGHUP)
        await asyncio.to_thread(srv.wait_log, r"reload: 1 route\(s\) in force", 5.0, mark)
        new = await login_user(srv, "new")
        await new.expect_error({"type": "say", "channel": "world", "text": "x" * 11}, "too_long")
        await old.expect_error({"type": "say", "channel": "world", "text": "x" * 11}, "too_long")
        await say_acked(old, "world", "x" * 10)
        await old.close()
        await new.close()
    run(go())


# =============================================================================================
# 12. Node ws interop
# =============================================================================================


def test_node_ws_client_interop(wsgate):
    if not os.access(NODE, os.X_OK) or not os.path.isdir(os.path.join(NODE_PATH, "ws")):
        pytest.skip("no node or no node-ws")
    srv = wsgate([chat_route(rate=0)])
    py_texts = ["hello node", "héllo 😀 \"quoted\" \\ back", "x" * 3000]

    async def go():
        py = await login_user(srv, "py", name="Python")
        await join(py, "interop")
        spec = {"url": srv.ws_url("/chat"), "token": token("nodeuser", name="Nöde"),
                "room": "interop", "expect": len(py_texts),
                "send": ["from node 1", "from node ✓ 2"], "timeout_ms": 20000}
        proc = await asyncio.create_subprocess_exec(
            NODE, os.path.join(HERE, "chat_node_client.js"), json.dumps(spec),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ, NODE_PATH=NODE_PATH))
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            ready = json.loads(line)
            assert ready.get("event") == "ready", ready
            p = await py.recv_type("presence")
            assert (p["user"], p["name"], p["event"]) == ("nodeuser", "Nöde", "join"), p
            acks = [await say_acked(py, "interop", t, f"p{i}") for i, t in enumerate(py_texts)]
            got = [await py.recv_type("message", 20) for _ in spec["send"]]
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            done = json.loads(line)
            await asyncio.wait_for(proc.wait(), 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        err = (await proc.stderr.read()).decode(errors="replace")
        assert done.get("error") is None, (done, err)
        assert done["protocol"] == "wsgate.chat", done
        assert done["welcome"]["user"] == "nodeuser" and done["welcome"]["name"] == "Nöde"
        assert [m["text"] for m in done["received"]] == py_texts, done["received"]
        assert [m["seq"] for m in done["received"]] == [a["seq"] for a in acks]
        assert all(m["from"] == "py" and m["name"] == "Python" for m in done["received"])
        assert [a["local_id"] for a in done["acks"]] == ["n0", "n1"], done["acks"]
        for m, a, t in zip(got, done["acks"], spec["send"]):
            check_message(m, "interop", "nodeuser", t, name="Nöde", seq=a["seq"], id=a["id"])
        assert done["close"] == 1000, done
        await py.close()
    run(go(), 60)
