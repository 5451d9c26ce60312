"""www/chat.html in headless Chromium against the real chat route.

wsgate serves the repository's www/ (static route) and a chat route at /chat with
duplicate_login = "kick_old"; the tokens are minted by `wsgate token`. tests/browser/chat_page.js
(playwright-core, Debian's /usr/bin/chromium) then plays two users in two browser contexts and a
second login of the first one: rooms, members and presence, messages both ways, an unread count,
a direct message, the kick (banner and close 4001) and reconnect recovery. Its screenshot of Bob's
page is kept at build/artifacts/chat_page.png (the kicked page next to it as
chat_page-kicked.png).

Without chromium or tests/browser/node_modules/playwright-core (scripts/setup.sh installs both)
the test is skipped, unless WSGATE_REQUIRE_BROWSER is set, when it fails instead."""

import json
import os
import shutil
import struct
import subprocess

import pytest

from conftest import SOURCE_DIR, WSGATE_BIN

SECRET = "page-test-secret"
CHROMIUM = "/usr/bin/chromium"
BROWSER_DIR = os.path.join(SOURCE_DIR, "tests", "browser")
SCRIPT_TIMEOUT = 120  # seconds; the scenario itself takes a few


def node_binary():
    return "/usr/bin/node" if os.access("/usr/bin/node", os.X_OK) else shutil.which("node")


def require_browser():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(CHROMIUM)
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        missing.append("tests/browser/node_modules/playwright-core (npm install in tests/browser)")
    if not node_binary():
        missing.append("node")
    if not missing:
        return
    why = "missing " + ", ".join(missing) + " (scripts/setup.sh installs them)"
    if os.environ.get("WSGATE_REQUIRE_BROWSER"):
        pytest.fail(why + "; WSGATE_REQUIRE_BROWSER is set")
    pytest.skip(why)


def mint(*args):
    r = subprocess.run([WSGATE_BIN, "token", "--secret", SECRET, *args], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"wsgate token {' '.join(args)}: exit {r.returncode}: {r.stderr}"
    token = r.stdout.strip()
    assert token.count(".") == 2, f"not a JWT: {r.stdout!r}"
    return token


def png_size(path):
    """(width, height) of a PNG file, asserting its signature and IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path}: no IHDR"
    return struct.unpack("!II", head[16:24])


def test_chat_page_two_users_kick_and_recovery(wsgate):
    require_browser()
    www = os.path.join(SOURCE_DIR, "www")
    assert os.path.isfile(os.path.join(www, "chat.html"))
    srv = wsgate(server={"workers": 2}, routes=[
        {"path": "/chat", "kind": "chat", "jwt_secret": SECRET, "duplicate_login": "kick_old"},
        {"path": "/", "kind": "static", "root": www},
    ])
    tokens = {
        "ann": mint("--sub", "ann", "--name", "Ann", "--guild", "red", "--device", "web"),
        "bob": mint("--sub", "bob", "--name", "Bob", "--guild", "blue"),
        # the same user on another device: kick_old takes over whatever the device
        "ann2": mint("--sub", "ann", "--name", "Ann", "--guild", "red", "--device", "phone"),
    }
    artifacts = os.path.join(SOURCE_DIR, "build", "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    shot = os.path.join(artifacts, "chat_page.png")
    for name in os.listdir(artifacts):  # this test's pictures from an earlier run
        if name.startswith("chat_page") and name.endswith(".png"):
            os.remove(os.path.join(artifacts, name))
    args = {"url": srv.url("/chat.html"), "tokens": tokens, "screenshot": shot}

    try:
        r = subprocess.run([node_binary(), "chat_page.js", json.dumps(args)], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"chat_page.js still running after {SCRIPT_TIMEOUT} s\n"
                    f"stdout: {e.stdout}\nstderr: {e.stderr}")
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"chat_page.js printed no JSON (exit {r.returncode})\n" \
                  f"stdout: {r.stdout}\nstderr: {r.stderr}"
    result = json.loads(lines[-1])
    assert r.returncode == 0 and result.get("ok") is True, \
        f"chat_page.js failed (exit {r.returncode}): {r.stderr.strip()}\nresult: {lines[-1]}"

    # What the script saw, checked again here so that a weakened script cannot pass silently.
    assert result["kicked_ann"]["banner"] == "You were signed out: logged in elsewhere"
    assert "4001" in result["kicked_ann"]["detail"] and "4001" in result["kicked_ann"]["state"]
    assert "4001" in result["kicked_ann2"]["state"]
    assert sorted(result["bob_members"]) == ["ann", "bob"]
    assert sorted(result["ann_members"]) == ["ann", "bob"]
    assert result["ann_world_unread"] == "1"
    replayed = result["ann_replayed"]
    for text in ("while you were away", "Ann is back on another device"):
        assert replayed.count(text) == 1, replayed
    assert len(replayed) == len(set(replayed)), replayed

    for path in (shot, shot[:-4] + "-kicked.png"):
        width, height = png_size(path)
        assert width >= 800 and height >= 600, (path, width, height)
        assert os.path.getsize(path) > 10_000, f"{path}: {os.path.getsize(path)} bytes"
