"""kind = "broker" (docs/CHAT.md, "Broker"): events published with curl and urllib, subscribed
with Python `websockets`, on a 2-worker server. Replay, gaps, retention, topic limits, formats,
wildcards, auth, ws_publish, slow subscribers and reloads."""

import asyncio
import base64
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import websockets

from chat_clients import token
from conftest import SANITIZED, run_async, ws_connect

SECRET = "broker-test-secret-0123"


def broker_route(**kw):
    r = {"path": "/b", "kind": "broker"}
    r.update(kw)
    return r


def start(wsgate, **kw):
    return wsgate([broker_route(**kw)], server={"workers": 2, "access_log": "off"})


def post(srv, topic, body, headers=None, method="POST"):
    """(status, headers, body bytes) of a request to /b/{topic}."""
    req = urllib.request.Request(srv.url("/b/" + topic), data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def curl_post(srv, topic, data, *extra):
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-X", "POST", "--data-binary",
                          data, *extra, srv.url("/b/" + topic)],
                         capture_output=True, text=True, timeout=10, check=True)
    body, code = out.stdout.rsplit("\n", 1)
    return int(code), body


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def apost(srv, topic, body, headers=None):
    return await asyncio.to_thread(post, srv, topic, body, headers)


async def subscribed(srv, path, **kw):
    """A subscription that is live: wsgate answers the upgrade after it has posted the
    subscription, and the hub handles it before a publish posted later."""
    return await ws_connect(srv, path, **kw)


def test_curl_publish_reaches_every_subscriber_in_order(wsgate):
    srv = start(wsgate)

    async def go():
        subs = [await subscribed(srv, "/b/orders") for _ in range(6)]  # over both workers
        await asyncio.sleep(0.1)
        answers = []
        for i in range(20):
            code, body = await asyncio.to_thread(curl_post, srv, "orders", json.dumps({"n": i}),
                                                 "-H", "Content-Type: application/json")
            assert code == 200, body
            answers.append(json.loads(body))
        assert [a["seq"] for a in answers] == list(range(1, 21))
        assert all(a["topic"] == "orders" for a in answers)
        for ws in subs:
            got = [await recv_json(ws) for _ in range(20)]
            assert [e["seq"] for e in got] == list(range(1, 21))
            assert [e["data"] for e in got] == [{"n": i} for i in range(20)]
            assert all(e["topic"] == "orders" and isinstance(e["ts"], int) for e in got)
            await ws.close()
    run_async(go())


def test_bodies_json_text_binary_and_raw_format(wsgate):
    srv = start(wsgate)

    async def go():
        env = await subscribed(srv, "/b/t")
        raw = await subscribed(srv, "/b/t?format=raw")
        await asyncio.sleep(0.1)
        bodies = [b'{"a": [1, 2]}', b"plain text \xc3\xa9", b"\x00\xff\xfe", b"[1,"]
        for b in bodies:
            status, _, _ = await apost(srv, "t", b)
            assert status == 200
        e = [await recv_json(env) for _ in bodies]
        assert e[0]["data"] == {"a": [1, 2]}
        assert e[1]["data"] == "plain text é" and "encoding" not in e[1]
        assert e[2]["encoding"] == "base64" and base64.b64decode(e[2]["data"]) == b"\x00\xff\xfe"
        assert e[3]["data"] == "[1,"  # not JSON: a string
        r = [await asyncio.wait_for(raw.recv(), 5) for _ in bodies]
        assert r[0] == '{"a": [1, 2]}' and r[1] == "plain text é"
        assert r[2] == b"\x00\xff\xfe"  # not UTF-8: a binary message
        await env.close()
        await raw.close()
    run_async(go())


def test_replay_from_and_last_and_gap(wsgate):
    srv = start(wsgate, max_events=5)

    async def go():
        for i in range(1, 9):
            assert (await apost(srv, "r", str(i).encode()))[0] == 200
        async with ws_connect(srv, "/b/r?last=3") as ws:
            assert [(await recv_json(ws))["seq"] for _ in range(3)] == [6, 7, 8]
        async with ws_connect(srv, "/b/r?from=5") as ws:
            assert [(await recv_json(ws))["seq"] for _ in range(4)] == [5, 6, 7, 8]
            await apost(srv, "r", b"9")
            assert (await recv_json(ws))["seq"] == 9  # live after the replay, no gap or repeat
        async with ws_connect(srv, "/b/r?from=1") as ws:
            gap = await recv_json(ws)
            assert gap == {"type": "gap", "topic": "r", "from": 1, "oldest": 5}
            assert [(await recv_json(ws))["seq"] for _ in range(5)] == [5, 6, 7, 8, 9]
        async with ws_connect(srv, "/b/r?last=100") as ws:
            assert (await recv_json(ws))["type"] == "gap"
            assert (await recv_json(ws))["seq"] == 5
    run_async(go())


def test_a_large_event_right_behind_a_small_one_is_delivered(wsgate):
    # Both replayed events are written in one step: the second (above max_backpressure on its
    # own, which one frame may be) must go out behind the first, not wait for a drain that a
    # connection below its high watermark never reports, nor count as a slow receiver.
    srv = wsgate([broker_route(max_event_size="2m", max_backpressure="1m")],
                 server={"workers": 2, "access_log": "off", "max_body_bytes": "2m"})
    big = b"x" * (1200 * 1024)

    async def go():
        assert (await apost(srv, "big", b"small"))[0] == 200
        assert (await apost(srv, "big", big))[0] == 200
        async with ws_connect(srv, "/b/big?last=2") as ws:
            first, second = await recv_json(ws), await recv_json(ws, timeout=10)
            assert (first["seq"], first["data"]) == (1, "small")
            assert (second["seq"], len(second["data"])) == (2, len(big))
            await apost(srv, "big", b"after")
            assert (await recv_json(ws))["data"] == "after"
    run_async(go())


def test_retention_by_bytes_and_age(wsgate):
    srv = start(wsgate, max_bytes=1000, max_age="1s")

    async def go():
        for i in range(10):
            await apost(srv, "big", bytes([65 + i]) * 300)
        async with ws_connect(srv, "/b/big?from=1") as ws:
            assert (await recv_json(ws))["type"] == "gap"
            seqs = []
            while True:
                try:
                    seqs.append((await recv_json(ws, 0.5))["seq"])
                except asyncio.TimeoutError:
                    break
            assert seqs and seqs[-1] == 10 and len(seqs) <= 3  # at most 1000 bytes of bodies
        await asyncio.sleep(2.5)  # max_age: gone, even with no further traffic
        async with ws_connect(srv, "/b/big?last=5") as ws:
            assert await recv_json(ws) == {"type": "gap", "topic": "big", "from": 6, "oldest": 11}
            with pytest.raises(asyncio.TimeoutError):
                await recv_json(ws, 0.5)
        status, _, body = await apost(srv, "big", b"again")
        assert status == 200 and json.loads(body)["seq"] == 11  # seq survives expiry
    run_async(go())


def test_topic_names_methods_and_sizes(wsgate):
    srv = start(wsgate, max_event_size=100, max_topics=3)
    for bad in ["", ".x", "x.", "a..b", "a%20b", "x" * 129, "a/b", "a.*"]:
        assert post(srv, bad, b"1")[0] in (400, 404), bad
    assert post(srv, "ok", b"x" * 101)[0] == 413
    assert post(srv, "ok", b"x" * 100)[0] == 200
    status, headers, _ = post(srv, "ok", b"1", method="PUT")
    assert status == 405 and "POST" in headers.get("Allow", "")
    assert post(srv, "t2", b"1")[0] == 200
    assert post(srv, "t3", b"1")[0] == 200
    status, _, body = post(srv, "t4", b"1")
    assert status == 503 and b"max_topics" in body

    async def go():
        for bad in ["/b/a..b", "/b/x?from=abc", "/b/x?from=1&last=2", "/b/x?format=xml"]:
            with pytest.raises(websockets.InvalidStatusCode) as e:
                await ws_connect(srv, bad)
            assert e.value.status_code == 400, bad
    run_async(go())


def test_wildcard_subscription(wsgate):
    srv = start(wsgate)

    async def go():
        async with ws_connect(srv, "/b/sensors.*") as ws:
            await asyncio.sleep(0.1)
            for t in ["sensors.kitchen", "other", "sensors.hall.temp", "sensorsx"]:
                await apost(srv, t, b"{}")
            topics = [(await recv_json(ws))["topic"] for _ in range(2)]
            assert topics == ["sensors.kitchen", "sensors.hall.temp"]
            with pytest.raises(asyncio.TimeoutError):
                await recv_json(ws, 0.3)
    run_async(go())
    srv2 = start(wsgate, wildcard=False)

    async def off():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await ws_connect(srv2, "/b/sensors.*")
        assert e.value.status_code == 400
    run_async(off())


def test_publisher_and_subscriber_auth(wsgate):
    srv = start(wsgate, publish_tokens=["static-token-1"], jwt_secret=SECRET, subscribe_auth=True)
    status, headers, _ = post(srv, "a", b"1")
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer"
    assert post(srv, "a", b"1", {"Authorization": "Bearer wrong"})[0] == 401
    assert post(srv, "a", b"1", {"Authorization": "Bearer static-token-1"})[0] == 200
    jwt = token("pub", secret=SECRET)
    assert post(srv, "a", b"2", {"Authorization": "Bearer " + jwt})[0] == 200
    assert post(srv, "a", b"3", {"Authorization": "Bearer " + token("x", secret="other-secret-0123456")})[0] == 401
    code, _ = curl_post(srv, "a", "4", "-H", "Authorization: Bearer static-token-1")
    assert code == 200

    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await ws_connect(srv, "/b/a")
        assert e.value.status_code == 401
        async with ws_connect(srv, "/b/a?last=1&token=static-token-1") as ws:
            assert (await recv_json(ws))["seq"] == 3
        async with ws_connect(srv, "/b/a?last=1", subprotocols=["wsgate.broker", "bearer." + jwt]) as ws:
            assert ws.subprotocol == "wsgate.broker"
            assert (await recv_json(ws))["seq"] == 3
    run_async(go())
    assert "refused" in srv.log()


def test_ws_publish(wsgate):
    srv = start(wsgate, ws_publish=True)
    closed = start(wsgate)

    async def go():
        async with ws_connect(srv, "/b/room") as a, ws_connect(srv, "/b/room") as b:
            await asyncio.sleep(0.1)
            await a.send('{"hello": 1}')
            ack = None
            for _ in range(2):  # the ack and a's own copy of the event, in either order
                m = await recv_json(a)
                if m.get("type") == "ack":
                    ack = m
            assert ack == {"type": "ack", "topic": "room", "seq": 1}
            e = await recv_json(b)
            assert e["data"] == {"hello": 1} and e["seq"] == 1
        async with ws_connect(closed, "/b/room") as c:
            await c.send("x")
            err = await recv_json(c)
            assert err["type"] == "error" and err["code"] == "forbidden"
    run_async(go())


def test_slow_subscriber_does_not_slow_others(wsgate):
    srv = start(wsgate, max_backpressure="64k", max_event_size="64k")
    payload = b"y" * 32000

    async def go():
        slow = await ws_connect(srv, "/b/flood", max_queue=1, read_limit=2 ** 12, write_limit=2 ** 12)
        fast = await ws_connect(srv, "/b/flood")
        await asyncio.sleep(0.1)
        rss0 = srv.rss_kib()
        n = 200
        t0 = time.monotonic()
        seqs = []

        async def read_all():
            while len(seqs) < n:
                seqs.append((await recv_json(fast, 30))["seq"])
        reading = asyncio.create_task(read_all())
        for i in range(n):
            assert (await apost(srv, "flood", payload))[0] == 200
        await asyncio.wait_for(reading, 30)
        assert seqs == list(range(1, n + 1))
        assert time.monotonic() - t0 < 30
        rss1 = srv.rss_kib()
        # The slow one (it never read) was closed 1008 rather than buffered without bound.
        async def drain():
            try:
                while True:
                    await slow.recv()
            except websockets.ConnectionClosed:
                pass
        await asyncio.wait_for(drain(), 15)
        assert slow.close_code == 1008
        assert "receiver more than max_backpressure" in srv.log()
        await fast.close()
        if not SANITIZED:
            assert rss1 - rss0 < 16 * 1024, (rss0, rss1)
    run_async(go(), 60)


def test_reload_keeps_topics(wsgate):
    srv = start(wsgate)
    for i in range(3):
        assert post(srv, "keep", str(i).encode())[0] == 200
    mark = len(srv.log())
    srv.routes[0]["max_events"] = 10
    srv.write_config()
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reload: 1 route\(s\) in force", 5.0, mark)
    status, _, body = post(srv, "keep", b"3")
    assert status == 200 and json.loads(body)["seq"] == 4

    async def go():
        async with ws_connect(srv, "/b/keep?from=1") as ws:
            assert [(await recv_json(ws))["data"] for _ in range(4)] == [0, 1, 2, 3]
    run_async(go())
