"""configs/wsgate.toml, as shipped (only its port moved to a free one): every route kind it
demonstrates answers on loopback with nothing else running. The static demo page, the echo
WebSocket, the bridge (a raw HTTP/1.1 request sent as a binary message through /tcp comes back as
wsgate's raw answer), and the proxy route, for HTTP (the page through /app/) and WebSocket
(/app/ws, relayed message by message to the echo route behind it), the chat (its page and two
demo users with tokens from `wsgate token`) and the broker (a POST reaching a subscriber)."""

import asyncio
import json
import os
import re
import subprocess
import urllib.request

import pytest

from conftest import SOURCE_DIR, Wsgate, run_async, ws_connect

SHIPPED = os.path.join(SOURCE_DIR, "configs", "wsgate.toml")


class ShippedConfig(Wsgate):
    """The shipped file with 8080 replaced by the test's port and the www root made absolute."""

    def write_config(self, text=None):
        with open(SHIPPED) as f:
            text = f.read()
        assert "127.0.0.1:8080" in text
        text = text.replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
        text = text.replace('root = "../www"', f'root = "{os.path.join(SOURCE_DIR, "www")}"')
        text = re.sub(r'(?m)^workers = \d+', "workers = 2", text)
        with open(self.cfg, "w") as f:
            f.write(text)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    srv = ShippedConfig(str(tmp_path_factory.mktemp("shipped")), routes=[])
    srv.start()
    yield srv
    assert srv.stop() == 0, srv.log()


def get(srv, path):
    with urllib.request.urlopen(srv.url(path), timeout=5) as r:
        return r.status, dict(r.headers), r.read()


def test_static_page(shipped):
    status, _, body = get(shipped, "/")
    assert status == 200 and b"<html" in body.lower()


def test_echo(shipped):
    async def go():
        async with ws_connect(shipped, "/echo") as ws:
            await ws.send("ping me")
            assert await ws.recv() == "ping me"
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"
    run_async(go())


def test_bridge_speaks_raw_tcp_to_wsgate_itself(shipped):
    async def go():
        async with ws_connect(shipped, "/tcp", subprotocols=["binary"]) as ws:
            assert ws.subprotocol == "binary"
            await ws.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = b""
            while b"</html>" not in raw.lower():
                raw += await asyncio.wait_for(ws.recv(), 5)
            assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    run_async(go())


def test_proxy_http_serves_the_page_through_itself(shipped):
    status, headers, body = get(shipped, "/app/")
    _, _, direct = get(shipped, "/")
    assert status == 200
    assert body == direct
    assert "wsgate" in headers.get("Via", "")
    # The access log names the route and the upstream server that answered.
    shipped.wait_log(r'"GET /app/ HTTP/1\.1" 200 .* route=/app upstream="loopback/127\.0\.0\.1:\d+"')


def test_proxy_websocket(shipped):
    async def go():
        async with ws_connect(shipped, "/app/ws") as ws:
            for m in ["one", b"two", "x" * 100000]:
                await ws.send(m)
                assert await ws.recv() == m
            await ws.close(4000, "done")
            assert ws.close_code == 4000
    run_async(go())
    # The relay reached the echo route behind the proxy (the access log names both).
    shipped.wait_log(r'"GET /app/ws HTTP/1.1" 101 .* route=backend\.localhost/app/ws')


DEMO_SECRET = "wsgate-demo-secret-change-me"  # as in the shipped file and scripts/run.sh


def mint(sub, name, guild="red"):
    """A demo token made the way scripts/run.sh makes it: with `wsgate token`."""
    out = subprocess.run([os.environ["WSGATE_BIN"], "token", "--secret", DEMO_SECRET, "--sub", sub,
                          "--name", name, "--guild", guild],
                         capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()


def test_chat_page_and_two_demo_users(shipped):
    status, _, body = get(shipped, "/chat.html")
    assert status == 200 and b"/chat" in body

    async def go():
        async with ws_connect(shipped, "/chat", subprotocols=["wsgate.chat", "bearer." + mint("ann", "Ann")]) as ann, \
                ws_connect(shipped, "/chat?token=" + mint("bob", "Bob")) as bob:
            assert ann.subprotocol == "wsgate.chat"
            for ws, user in ((ann, "ann"), (bob, "bob")):
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert welcome["type"] == "welcome" and welcome["user"] == user
            await ann.send(json.dumps({"type": "say", "channel": "guild", "text": "hello",
                                       "local_id": "1"}))
            ack = json.loads(await asyncio.wait_for(ann.recv(), 5))
            assert ack["type"] == "ack" and ack["local_id"] == "1"
            msg = json.loads(await asyncio.wait_for(bob.recv(), 5))
            assert (msg["type"], msg["from"], msg["text"], msg["seq"]) == \
                ("message", "ann", "hello", ack["seq"])
    run_async(go())


def test_broker_publish_and_subscribe(shipped):
    async def go():
        async with ws_connect(shipped, "/events/demo.topic") as sub:
            req = urllib.request.Request(shipped.url("/events/demo.topic"), method="POST",
                                         data=b'{"temp": 21.5}',
                                         headers={"Content-Type": "application/json"})
            loop = asyncio.get_running_loop()
            status, _, body = await loop.run_in_executor(None, lambda: _open(req))
            assert status == 200
            answer = json.loads(body)
            assert answer["topic"] == "demo.topic"
            event = json.loads(await asyncio.wait_for(sub.recv(), 5))
            assert event["topic"] == "demo.topic" and event["seq"] == answer["seq"]
            assert event["data"] == {"temp": 21.5}
    run_async(go())


def _open(req):
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, dict(r.headers), r.read()
