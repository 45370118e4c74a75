"""Unsubscribe tokens: the address sealed with the secret, read back only with it."""

from __future__ import annotations

import base64

import pytest

from pipeline.audience import tokens

SECRET = "测试密钥".encode()


@pytest.mark.parametrize(
    "address", ["li.na@example.net", "张伟@例子.中国", "a@b.cn", "x" * 64 + "@" + "y" * 180 + ".org"]
)
def test_a_token_reads_back_as_its_address_and_shows_none_of_it(address):
    token = tokens.unsubscribe_token(SECRET, address)
    assert tokens.unsubscribe_address(SECRET, token) == address
    assert token == tokens.unsubscribe_token(SECRET, address)  # the same link in every issue
    assert "@" not in token and address.split("@")[0] not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_token_made_without_the_secret_or_altered_reads_as_nothing():
    token = tokens.unsubscribe_token(SECRET, "li.na@example.net")
    sealed = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in range(len(sealed)):  # every byte of the tag and of the sealed address
        altered = bytearray(sealed)
        altered[index] ^= 0x01
        assert tokens.unsubscribe_address(SECRET, base64.urlsafe_b64encode(altered).rstrip(b"=").decode()) is None
    for wrong in (
        tokens.unsubscribe_token(b"another secret", "li.na@example.net"),
        token[:-4],
        token[:22],
        token + "A",
        token + "=",
        "",
        "中文",
        "!!!!",
        "A" * 5000,
    ):
        assert tokens.unsubscribe_address(SECRET, wrong) is None, wrong


def test_links_of_either_form_name_the_address_they_were_made_for():
    legacy = {"email": "li.na@example.net", "token": tokens.sign(SECRET, "unsubscribe", "li.na@example.net")}
    sealed = {tokens.UNSUBSCRIBE_KEY: tokens.unsubscribe_token(SECRET, "li.na@example.net")}
    assert tokens.unsubscribe_query_address(SECRET, legacy) == "li.na@example.net"
    assert tokens.unsubscribe_query_address(SECRET, sealed) == "li.na@example.net"
    assert tokens.unsubscribe_query_address(SECRET, {**legacy, "email": "wang.fang@example.org"}) is None
    assert tokens.unsubscribe_query_address(SECRET, {"email": "li.na@example.net"}) is None
    assert tokens.unsubscribe_query_address(SECRET, {}) is None
    # A sealed token that does not verify is refused even beside a legacy pair that would.
    assert tokens.unsubscribe_query_address(SECRET, {**legacy, tokens.UNSUBSCRIBE_KEY: "AAAA"}) is None
