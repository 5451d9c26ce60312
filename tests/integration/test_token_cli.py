"""`wsgate token`: the demo token minter, checked from outside with nothing but the standard
library. The signature is recomputed here with hmac/hashlib, the parts decoded with base64, and
the claims compared with what the command line asked for; bad command lines must exit 2 with a
`wsgate token: ...` message on stderr and nothing on stdout."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

import pytest

from conftest import WSGATE_BIN

SECRET = "demo secret"


def run(*args, env=None):
    assert WSGATE_BIN and os.access(WSGATE_BIN, os.X_OK), "set WSGATE_BIN (ctest does)"
    return subprocess.run([WSGATE_BIN, "token", *args], capture_output=True, text=True,
                          timeout=30, env=env)


def b64url_decode(part):
    assert "=" not in part and "+" not in part and "/" not in part
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode(token, secret=SECRET):
    """(header, claims) of an HS256 token whose signature verifies with `secret`."""
    parts = token.split(".")
    assert len(parts) == 3, token
    mac = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(b64url_decode(parts[2]), mac), "signature does not verify"
    return json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))


def mint(*args, secret=SECRET, env=None):
    """Runs `wsgate token --secret SECRET ARGS`; returns (header, claims, before, after)."""
    before = int(time.time())
    r = run("--secret", secret, *args, env=env)
    after = int(time.time())
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.endswith("\n") and r.stdout.count("\n") == 1
    header, claims = decode(r.stdout[:-1], secret)
    return header, claims, before, after


def refused(*args, env=None):
    """Runs `wsgate token ARGS`, which must fail with exit 2; returns its stderr."""
    r = run(*args, env=env)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("wsgate token: "), r.stderr
    return r.stderr


def test_minimal_token_has_sub_iat_and_a_day_of_exp():
    header, claims, before, after = mint("--sub", "u1")
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert set(claims) == {"sub", "iat", "exp"}
    assert claims["sub"] == "u1"
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + 24 * 3600


def test_all_claims():
    _, claims, _, _ = mint("--sub", "u7", "--name", "Ann", "--guild", "g1", "--device", "web",
                           "--iss", "https://id.example", "--aud", "chat", "--ttl", "15m")
    assert claims["sub"] == "u7"
    assert claims["name"] == "Ann"
    assert claims["guild"] == "g1"
    assert claims["device"] == "web"
    assert claims["iss"] == "https://id.example"
    assert claims["aud"] == "chat"
    assert claims["exp"] == claims["iat"] + 15 * 60


@pytest.mark.parametrize("ttl,seconds", [("30s", 30), ("15m", 900), ("24h", 86400),
                                         ("7d", 7 * 86400), ("3600", 3600), ("1", 1)])
def test_ttl_units(ttl, seconds):
    _, claims, _, _ = mint("--sub", "u", "--ttl", ttl)
    assert claims["exp"] - claims["iat"] == seconds


@pytest.mark.parametrize("ttl", ["0", "0s", "0d"])
def test_ttl_zero_means_no_exp(ttl):
    _, claims, _, _ = mint("--sub", "u", "--ttl", ttl)
    assert "exp" not in claims
    assert "iat" in claims


def test_option_equals_form():
    _, claims, _, _ = mint("--sub=u2", "--name=A=B", "--ttl=1h")
    assert claims["sub"] == "u2"
    assert claims["name"] == "A=B"
    assert claims["exp"] - claims["iat"] == 3600


def test_awkward_text_is_escaped():
    name = 'q"uote \\ back\nnew\ttab \u2028 caf\u00e9 \U0001F600 </script>'
    _, claims, _, _ = mint("--sub", "\u00fcser", "--name", name)
    assert claims["name"] == name
    assert claims["sub"] == "\u00fcser"


def test_secret_from_the_environment():
    env = dict(os.environ, WSGATE_TEST_SECRET="from the env")
    r = run("--secret-env", "WSGATE_TEST_SECRET", "--sub", "u3", env=env)
    assert r.returncode == 0, r.stderr
    _, claims = decode(r.stdout.strip(), "from the env")
    assert claims["sub"] == "u3"
    with pytest.raises(AssertionError):
        decode(r.stdout.strip(), SECRET)


def test_missing_or_empty_secret():
    env = {k: v for k, v in os.environ.items() if k != "WSGATE_NO_SUCH_VAR"}
    assert "secret" in refused("--sub", "u")
    assert "WSGATE_NO_SUCH_VAR" in refused("--secret-env", "WSGATE_NO_SUCH_VAR", "--sub", "u",
                                           env=env)
    env["WSGATE_EMPTY_SECRET"] = ""
    assert "empty" in refused("--secret-env", "WSGATE_EMPTY_SECRET", "--sub", "u", env=env)
    assert "empty" in refused("--secret", "", "--sub", "u")
    env["WSGATE_TEST_SECRET"] = "x"
    assert "not both" in refused("--secret", "s", "--secret-env", "WSGATE_TEST_SECRET",
                                 "--sub", "u", env=env)


@pytest.mark.parametrize("args,needle", [
    ((), "secret"),
    (("--secret", "s"), "--sub"),
    (("--secret", "s", "--sub", ""), "--sub"),
    (("--secret", "s", "--sub", "x" * 129), "--sub"),
    (("--secret", "s", "--sub", "u", "--ttl", "1.5h"), "--ttl"),
    (("--secret", "s", "--sub", "u", "--ttl", "-5"), "--ttl"),
    (("--secret", "s", "--sub", "u", "--ttl", "h"), "--ttl"),
    (("--secret", "s", "--sub", "u", "--ttl", "5w"), "--ttl"),
    (("--secret", "s", "--sub", "u", "--ttl", ""), "--ttl"),
    (("--secret", "s", "--sub", "u", "--ttl", "99999999999999999999"), "--ttl"),
    (("--secret", "s", "--sub", "u", "--ttl", "9007199254740992"), "--ttl"),
    (("--secret", "s", "--sub", "u", "--name"), "--name"),
    (("--secret", "s", "--sub", "u", "--name", ""), "--name"),
    (("--secret", "s", "--sub", "u", "--sub", "v"), "twice"),
    (("--secret", "s", "--sub", "u", "--bogus", "1"), "--bogus"),
    (("--secret", "s", "--sub", "u", "extra"), "extra"),
    (("--secret",), "--secret"),
])
def test_bad_arguments_exit_2(args, needle):
    assert needle in refused(*args)


def test_sub_of_128_bytes_is_accepted():
    _, claims, _, _ = mint("--sub", "x" * 128)
    assert claims["sub"] == "x" * 128


def test_help():
    r = run("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: wsgate token")
    for option in ("--secret", "--secret-env", "--sub", "--name", "--guild", "--device", "--ttl",
                   "--iss", "--aud"):
        assert option in r.stdout
    main_help = subprocess.run([WSGATE_BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert main_help.returncode == 0
    assert "wsgate token" in main_help.stdout
    assert "--check" in main_help.stdout


def test_non_utf8_values_are_refused():
    for option in ("--sub", "--name", "--guild", "--device", "--iss", "--aud"):
        args = ["--secret", "s", "--sub", "u"]
        if option == "--sub":
            args = ["--secret", "s"]
        r = subprocess.run([WSGATE_BIN, "token", *args, option, b"caf\xe9"], capture_output=True,
                           timeout=30)
        assert r.returncode == 2, option
        assert r.stdout == b""
        assert r.stderr.startswith(b"wsgate token: ") and b"UTF-8" in r.stderr, r.stderr
