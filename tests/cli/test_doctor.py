"""`publish doctor`: what a bulk sender needs per email channel, and a received copy's verdicts;
no DNS is asked, and the private key never shows."""

from __future__ import annotations

import base64
import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import NOW, REPO

from pipeline.channels.email import sender_checks
from pipeline.config import load_config
from pipeline.publish.publisher import publish_issue

ISSUE = "2024-04-28"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True, timeout=60)
    return path


def openssl_public(key: Path) -> str:
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return base64.b64encode(der).decode()


def configure(root: Path, key: Path | None, **email_options) -> None:
    data = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    channel = data["channels"]["email"]
    if key is not None:
        (root / "dkim.pem").write_bytes(key.read_bytes())
        channel["dkim"] = {"selector": "s2024", "private_key_file": "dkim.pem"}
    channel.update(email_options)
    (root / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (root / "subscribers.csv").write_text("email,name\nzhang.wei@example.com,张伟\n", encoding="utf-8")


def received_copy(root: Path, results: str) -> Path:
    """One copy from the Maildir send, as a mailbox would store it with its verdicts on top."""
    [result] = publish_issue(load_config(root / "config.yaml"), ISSUE, ["email"], now=NOW)
    assert result.status == "done", result.line()
    box = mailbox.Maildir(root / "outbox" / "maildir", factory=None, create=False)
    [key] = box.keys()
    path = root / "received.eml"
    path.write_bytes(results.encode("ascii") + box.get_bytes(key))
    return path


PASSING = (
    "Authentication-Results: mx.google.com;\n"
    "       dkim=pass header.i=@example.org header.s=s2024 header.b=AbCd;\n"
    "       spf=pass (google.com: domain of digest@example.org designates 192.0.2.1 as permitted sender)"
    " smtp.mailfrom=digest@example.org;\n"
    "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.org\n"
)


def key_body(key: Path) -> list[str]:
    return [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]


def test_a_configured_channel_gets_its_dns_record_and_exit_0(example, rsa_key):
    configure(example, rsa_key)
    result = run("doctor", cwd=example)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "From domain: example.org" in out
    assert "signs as d=example.org s=s2024 (rsa-sha256, 2048-bit key)" in out
    [record] = [line for line in out.splitlines() if "s2024._domainkey.example.org IN TXT" in line]
    text = "".join(record.split(" IN TXT ", 1)[1].replace('" "', "").strip('"'))
    assert text == f"v=DKIM1; k=rsa; p={openssl_public(rsa_key)}"
    assert 'example.org IN TXT "v=spf1' in out and "_dmarc.example.org IN TXT" in out
    assert "List-Unsubscribe: one-click https://digest.example.org/unsubscribe" in out
    assert "unsubscribe_mailto: not set" in out and "nothing required is missing" in out
    assert not any(line in out + result.stderr for line in key_body(rsa_key))


def test_a_channel_without_dkim_is_missing_it_and_exits_1(example):
    configure(example, None, unsubscribe_mailto="unsubscribe@example.org")
    result = run("doctor", "--channel", "email", cwd=example)
    assert result.returncode == 1
    assert "MISSING   DKIM: no dkim: block" in result.stdout
    assert "unsubscribe_mailto: set: unsubscribe@example.org" in result.stdout
    assert "1 required item missing" in result.stdout


def test_a_bad_key_is_reported_as_missing_without_a_traceback_or_the_key(example, rsa_key):
    configure(example, rsa_key)
    lines = (example / "dkim.pem").read_text().splitlines()
    (example / "dkim.pem").write_text("\n".join(lines[:5] + lines[-1:]) + "\n")
    result = run("doctor", cwd=example)
    assert result.returncode == 1
    assert "MISSING   DKIM: channels.email.dkim.private_key_file" in result.stdout and " — " in result.stdout
    assert "Traceback" not in result.stderr
    assert not any(line in result.stdout + result.stderr for line in key_body(example / "dkim.pem")[1:])


def test_a_non_email_channel_is_refused(example):
    result = run("doctor", "--channel", "feed", cwd=example)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --channel feed: not an email channel — email channels: email")


def test_a_received_copy_that_passes_everything_and_verifies_offline(example, rsa_key):
    configure(example, rsa_key)
    eml = received_copy(example, PASSING)
    result = run("doctor", "--eml", str(eml), cwd=example)
    assert result.returncode == 0, result.stdout
    for line in (
        "ok        SPF: pass for example.org, aligned with From",
        "ok        DKIM: pass for d=example.org, aligned with From",
        "ok        DMARC: pass for example.org",
        "ok        DKIM signature: by s2024._domainkey.example.org verifies with the configured key",
    ):
        assert line in result.stdout


def test_a_relay_that_signs_counts_when_the_received_copy_says_so(example, rsa_key):
    configure(example, rsa_key)
    eml = received_copy(example, PASSING)
    configure(example, None)
    data = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    del data["channels"]["email"]["dkim"]
    (example / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    checks = sender_checks(load_config(example / "config.yaml"), "email", eml.read_bytes())
    assert not [c for c in checks if c.missing], checks
    assert any(c.what == "DKIM signature" and "not the configured key" in c.detail for c in checks)


def test_a_changed_copy_and_failing_verdicts_are_missing(example, rsa_key):
    configure(example, rsa_key)
    failing = PASSING.replace("spf=pass", "spf=softfail").replace("dmarc=pass", "dmarc=fail")
    failing = failing.replace("header.i=@example.org", "header.i=@esp.example.net")
    eml = received_copy(example, failing)
    head, link, tail = eml.read_bytes().rpartition(b"/unsubscribe?")  # the body's link changed on the way
    eml.write_bytes(head + link + b"x=1&" + tail)
    checks = {c.what: c for c in sender_checks(load_config(example / "config.yaml"), "email", eml.read_bytes())}
    assert checks["SPF"].missing and checks["SPF"].detail == "softfail for example.org"
    assert checks["DKIM"].missing and "none aligned with From example.org" in checks["DKIM"].detail
    assert checks["DMARC"].missing
    assert checks["DKIM signature"].missing and "does not verify" in checks["DKIM signature"].detail


def test_a_copy_without_authentication_results_says_how_to_save_one(example, rsa_key):
    configure(example, rsa_key)
    eml = received_copy(example, "")
    result = run("doctor", "--eml", str(eml), cwd=example)
    assert result.returncode == 1
    assert "MISSING   Authentication-Results: the message has none" in result.stdout
    assert "verifies with the configured key" in result.stdout  # the signature itself is checked all the same
