"""DKIM signing in the email channel: every copy signed on its own and verified offline, with a
throwaway key made by openssl for the test; the key never shows in logs, results or errors."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import mailbox
import subprocess
from pathlib import Path

import dkim
import pytest
import yaml
from conftest import NOW
from test_email_channel import READERS, configure, publish, write_csv

from pipeline.config import load_config
from pipeline.errors import ChannelError
from pipeline.ledger import Ledger
from pipeline.mail.dkim import SIGNED_HEADERS, authentication_results, load_key, organisational_domain
from pipeline.publish.publisher import publish_issue

ISSUE = "2024-04-28"
SELECTOR, DOMAIN = "s2024", "example.org"


def openssl(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory) -> Path:
    """A 2048-bit RSA key in PKCS#8 PEM, made for this test run only."""
    path = tmp_path_factory.mktemp("keys") / "dkim.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
    return path


def public_record(key: Path) -> bytes:
    """The TXT record as openssl derives it, independently of the code under test."""
    der = openssl("pkey", "-in", str(key), "-pubout", "-outform", "DER")
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns_for(key: Path, selector: str = SELECTOR, domain: str = DOMAIN):
    """A dnsfunc for dkimpy that answers only the key's name: no DNS is asked."""
    record = public_record(key)

    def answer(name, timeout=5):
        return record if name == f"{selector}._domainkey.{domain}.".encode() else None

    return answer


def key_body(key: Path) -> list[str]:
    """The base64 lines of the private key: none may appear anywhere visible."""
    return [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]


@pytest.fixture
def news(example: Path, rsa_key: Path) -> Path:
    write_csv(example, READERS)
    (example / "keys").mkdir()
    (example / "keys" / "dkim.pem").write_bytes(rsa_key.read_bytes())
    return example


def with_dkim(root: Path, port: int | None = None, **dkim_options):
    block = {"selector": SELECTOR, "private_key_file": "keys/dkim.pem", **dkim_options}
    return configure(root, port, dkim={k: v for k, v in block.items() if v is not None})


def signature_tags(data: bytes) -> dict[bytes, bytes]:
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    return dkim.util.parse_tag_value(" ".join(message["DKIM-Signature"].split()).encode())


def maildir_messages(root: Path) -> list[bytes]:
    box = mailbox.Maildir(root / "outbox" / "maildir", factory=None, create=False)
    return [box.get_bytes(key) for key in box.keys()]


def test_every_copy_over_smtp_carries_its_own_signature_that_verifies(news, rsa_key, smtp_server):
    result = publish(with_dkim(news, smtp_server.port))
    assert result.status == "done", result.line()
    assert len(smtp_server.messages) == len(READERS)
    dnsfunc, signatures = dns_for(rsa_key), set()
    for received in smtp_server.messages:
        assert received.data.startswith(b"DKIM-Signature: ")
        assert dkim.verify(received.data, dnsfunc=dnsfunc), received.rcpt_tos
        tags = signature_tags(received.data)
        assert tags[b"a"] == b"rsa-sha256" and tags[b"c"] == b"relaxed/relaxed"
        assert (tags[b"d"], tags[b"s"]) == (DOMAIN.encode(), SELECTOR.encode())
        signed = [h.strip() for h in tags[b"h"].split(b":")]
        assert set(SIGNED_HEADERS) <= set(signed)
        signatures.add(tags[b"b"])
    assert len(signatures) == len(READERS)  # each copy (To, Message-ID, link) signed on its own


def test_maildir_copies_verify_and_a_tampered_copy_does_not(news, rsa_key):
    result = publish(with_dkim(news))
    assert result.status == "done", result.line()
    dnsfunc = dns_for(rsa_key)
    messages = [data.replace(b"\n", b"\r\n") for data in maildir_messages(news)]  # as it goes on the wire
    assert len(messages) == len(READERS)
    assert all(dkim.verify(data, dnsfunc=dnsfunc) for data in messages)
    original = messages[0]
    head, link, tail = original.rpartition(b"/unsubscribe?")  # the body's link, not the header's
    tampered = {
        "another unsubscribe link": head + link + b"x=1&" + tail,
        "another subject": original.replace(b"Subject: ", b"Subject: Re: ", 1),
        "another recipient": original.replace(b"\r\nTo: ", b"\r\nTo: =?utf-8?b?5byg5LyZ?= <x@example.com>, ", 1),
        "a second From": original.replace(b"\r\nFrom: ", b"\r\nFrom: evil@example.net\r\nFrom: ", 1),
    }
    for what, data in tampered.items():
        assert data != original, what
        assert not dkim.verify(data, dnsfunc=dnsfunc), what
    assert not dkim.verify(original, dnsfunc=dns_for(rsa_key, selector="other"))


def test_a_key_from_the_environment_signs_and_is_never_logged_or_shown(news, rsa_key, smtp_server, caplog, monkeypatch):
    monkeypatch.setenv("DKIM_PRIVATE_KEY", rsa_key.read_text())
    caplog.set_level(logging.DEBUG)
    config = with_dkim(news, smtp_server.port, private_key="${DKIM_PRIVATE_KEY}", private_key_file=None)
    [dry] = publish_issue(config, ISSUE, ["email"], now=NOW, dry_run=True)
    assert f"DKIM-signed: d={DOMAIN} s={SELECTOR}" in dry.plan
    result = publish(config)
    assert result.status == "done", result.line()
    assert all(dkim.verify(m.data, dnsfunc=dns_for(rsa_key)) for m in smtp_server.messages)
    shown = caplog.text + result.line() + "\n".join(dry.plan)
    for line in key_body(rsa_key):
        assert line not in shown
        assert all(line.encode() not in m.data for m in smtp_server.messages)


def test_test_to_is_signed_too(news, rsa_key, smtp_server):
    result = publish(with_dkim(news, smtp_server.port), test_to="zhang.wei@example.com")
    assert result.status == "done", result.line()
    [received] = smtp_server.messages
    assert dkim.verify(received.data, dnsfunc=dns_for(rsa_key))


@pytest.mark.parametrize("kind", ["not a key", "a truncated key", "a public key", "a short key", "an encrypted key"])
def test_a_bad_key_fails_the_send_at_the_start_with_a_clear_message(news, rsa_key, smtp_server, caplog, kind):
    key_file = news / "keys" / "dkim.pem"
    if kind == "not a key":
        key_file.write_text("这不是密钥\n", encoding="utf-8")
    elif kind == "a truncated key":
        lines = rsa_key.read_text().splitlines()
        key_file.write_text("\n".join(lines[:8] + lines[-1:]) + "\n")
    elif kind == "a public key":
        key_file.write_bytes(openssl("pkey", "-in", str(rsa_key), "-pubout"))
    elif kind == "a short key":
        key_file.write_bytes(openssl("genrsa", "512"))
    else:
        key_file.write_bytes(openssl("pkey", "-in", str(rsa_key), "-aes256", "-passout", "pass:口令很长很长"))
    caplog.set_level(logging.DEBUG)
    config = with_dkim(news, smtp_server.port)
    result = publish(config)
    assert result.status == "failed"
    assert "channels.email.dkim.private_key_file" in result.detail and " — " in result.detail
    assert "Traceback" not in result.detail
    assert smtp_server.messages == []
    with Ledger(config.state_path) as ledger:
        assert ledger.counts(ISSUE, "email")["sent"] == 0
    for line in key_body(key_file) + key_body(rsa_key):
        assert line not in result.detail and line not in caplog.text


def test_key_settings_are_refused_with_what_to_do(news, rsa_key, smtp_server):
    cases = {
        "no private key": {"private_key_file": None},
        "both private_key and private_key_file": {"private_key": "${DKIM_PRIVATE_KEY}"},
        "does not exist": {"private_key_file": "keys/missing.pem"},
        "is an address, not a domain": {"domain": "digest@example.org"},
        "is not a selector": {"selector": "s 1"},
    }
    for expected, options in cases.items():
        result = publish(with_dkim(news, smtp_server.port, **options))
        assert result.status == "failed" and expected in result.detail and " — " in result.detail, result.detail
    assert smtp_server.messages == []


def test_a_key_inside_the_published_folder_is_refused(news, rsa_key, smtp_server):
    (news / "public").mkdir(exist_ok=True)
    (news / "public" / "dkim.pem").write_bytes(rsa_key.read_bytes())
    result = publish(with_dkim(news, smtp_server.port, private_key_file="public/dkim.pem"))
    assert result.status == "failed" and "published with the site" in result.detail
    assert smtp_server.messages == []


def test_a_domain_that_does_not_align_with_from_warns_and_still_signs(news, rsa_key, smtp_server, caplog):
    caplog.set_level(logging.WARNING)
    result = publish(with_dkim(news, smtp_server.port, domain="relay.example.net"))
    assert result.status == "done", result.line()
    assert "does not align with the From domain example.org" in caplog.text
    dnsfunc = dns_for(rsa_key, domain="relay.example.net")
    assert all(dkim.verify(m.data, dnsfunc=dnsfunc) for m in smtp_server.messages)


def test_a_subdomain_signature_aligns_without_a_warning(news, rsa_key, smtp_server, caplog):
    caplog.set_level(logging.WARNING)
    result = publish(with_dkim(news, smtp_server.port, domain="mail.example.org"))
    assert result.status == "done" and "align" not in caplog.text


def test_without_a_dkim_block_nothing_is_signed(news, smtp_server):
    data = yaml.safe_load((news / "config.yaml").read_text(encoding="utf-8"))
    assert "dkim" not in data["channels"]["email"]
    result = publish(configure(news, smtp_server.port))
    assert result.status == "done"
    assert not any(b"DKIM-Signature" in m.data for m in smtp_server.messages)


def test_pkcs1_and_pkcs8_give_the_record_openssl_derives(rsa_key):
    pkcs1 = openssl("pkey", "-in", str(rsa_key), "-traditional").decode()
    assert "BEGIN RSA PRIVATE KEY" in pkcs1
    expected = public_record(rsa_key).decode()
    for text in (rsa_key.read_text(), pkcs1, pkcs1.replace("\n", "\\n")):  # also one env line with \n escapes
        key = load_key(text, "dkim.private_key")
        assert key.record() == expected and key.bits == 2048
        assert "PRIVATE" not in repr(key) and key_body(rsa_key)[0] not in repr(key)


def test_an_ed25519_key_signs_with_ed25519_sha256(news, smtp_server, tmp_path):
    nacl = pytest.importorskip("nacl.signing")
    pem = openssl("genpkey", "-algorithm", "ed25519")
    (news / "keys" / "dkim.pem").write_bytes(pem)
    result = publish(with_dkim(news, smtp_server.port))
    assert result.status == "done", result.line()
    seed = base64.b64decode(b"".join(pem.splitlines()[1:-1]))[-32:]
    record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(nacl.SigningKey(seed).verify_key))
    assert all(
        dkim.verify(m.data, dnsfunc=lambda name, timeout=5: record)
        and signature_tags(m.data)[b"a"] == b"ed25519-sha256"
        for m in smtp_server.messages
    )


def test_authentication_results_are_read_with_comments_and_several_headers():
    raw = (
        b"Authentication-Results: mx.google.com;\r\n"
        b"       dkim=pass header.i=@example.org header.s=s2024 header.b=AbC;\r\n"
        b"       spf=pass (google.com: domain of digest@example.org designates 192.0.2.1 as permitted sender)"
        b" smtp.mailfrom=digest@example.org;\r\n"
        b"       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.org\r\n"
        b"Authentication-Results: relay.example.net; spf=softfail smtp.mailfrom=bounce@esp.example.net\r\n"
        b"From: =?utf-8?b?5byg5Lyf?= <zhang.wei@example.com>\r\n\r\nbody\r\n"
    )
    results = authentication_results(email.message_from_bytes(raw, policy=email.policy.default))
    assert [(r.server, r.method, r.result) for r in results] == [
        ("mx.google.com", "dkim", "pass"),
        ("mx.google.com", "spf", "pass"),
        ("mx.google.com", "dmarc", "pass"),
        ("relay.example.net", "spf", "softfail"),
    ]
    assert (
        results[0].properties["header.s"] == "s2024" and results[1].properties["smtp.mailfrom"] == "digest@example.org"
    )


def test_organisational_domains_for_relaxed_alignment():
    assert organisational_domain("mail.news.example.org") == "example.org"
    assert organisational_domain("news.example.com.cn") == "example.com.cn"
    assert organisational_domain("EXAMPLE.org.") == "example.org"


def test_a_config_with_a_dkim_block_loads_and_refuses_unknown_keys(news):
    data = yaml.safe_load((news / "config.yaml").read_text(encoding="utf-8"))
    data["channels"]["email"]["dkim"] = {"selector": SELECTOR, "key": "x"}
    (news / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(Exception, match=r"channels\.email\.dkim\.key: unknown key"):
        load_config(news / "config.yaml")


def test_a_signer_refuses_nothing_it_cannot_say_without_the_key():
    with pytest.raises(ChannelError) as caught:
        load_key("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n", "dkim.private_key")
    assert "MIIBOgIBAAJBAK" not in str(caught.value) and "MIIBOgIBAAJBAK" not in (caught.value.hint or "")
