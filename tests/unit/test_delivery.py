"""Where webhooks may go: IPv4 addresses written in the old numeric forms, and IPv6 addresses that carry IPv4 ones
(6to4, Teredo), are checked by the address they reach, in the API and in the worker."""

from __future__ import annotations

import socket

import pytest

from consumers.topics import Topics
from consumers.webhooks import BlockedDestination, pinned_destination
from matcher.alerts import AlertCommands
from matcher.commands import CommandService, Principal
from matcher.delivery import non_public_host_reason, non_public_reason
from matcher.errors import InvalidRequest
from tests.fakes import ApplyingPublisher
from tests.unit.test_matching import registry_world


@pytest.mark.parametrize("host, reason", [
    # 127.0.0.1 and 0.0.0.0 as the C resolver (inet_aton) reads them: one number, hex, octal, fewer parts
    ("2130706433", "loopback"), ("0x7f000001", "loopback"), ("127.1", "loopback"), ("0", "private"),
    ("0X7F.1", "loopback"), ("017700000001", "loopback"),
    ("167772161", "private"), ("2852039166", "link-local"),  # 10.0.0.1, 169.254.169.254
    ("134744072", None),  # 8.8.8.8
    ("example.com", None), ("hooks.example.org", None), ("例子.中国", None), ("xn--fsqu00a.xn--fiqs8s", None),
    ("1e100.net", None), ("123.example", None),
])
def test_ipv4_addresses_written_in_the_old_numeric_forms_are_checked_like_any_address(host, reason):
    assert non_public_host_reason(host) == reason


@pytest.mark.parametrize("address, reason", [
    ("2002:7f00:1::", "loopback"), ("2002:a00:1::", "private"), ("2002:a9fe:a9fe::1", "link-local"),  # 6to4
    ("2002:808:808::", None),  # 6to4 for 8.8.8.8
    ("2001:0:7f00:1:0:0:80ff:fffe", "loopback"),  # Teredo: server and client 127.0.0.1
    ("2001:0:808:808:0:0:80ff:fffe", "loopback"),  # Teredo: server 8.8.8.8, client 127.0.0.1
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:8.8.8.8", None),  # IPv4-mapped: as before
])
def test_6to4_and_teredo_addresses_are_checked_by_the_ipv4_addresses_they_carry(address, reason):
    assert non_public_reason(address) == reason
    assert non_public_host_reason(address) == reason


def test_a_name_resolving_to_a_6to4_address_for_loopback_gets_no_push(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kwargs: [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2002:7f00:1::", port, 0, 0))])
    with pytest.raises(BlockedDestination, match=r"resolves to an address that is not public \(loopback\)"):
        pinned_destination("https://hooks.example/in", allow_private=False)


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://0/",
                                 "https://[2002:7f00:1::]/x"])
def test_the_api_refuses_those_webhook_urls(url):
    world = registry_world()
    commands = AlertCommands(world.view, CommandService(world.view, ApplyingPublisher(world.view),
                                                        Topics("t").for_event_type), "server-secret-0123456789")
    investor = Principal("k-i", "investor", "i-robot")
    with pytest.raises(InvalidRequest, match="webhook_url must point to a public address"):
        commands.update_settings(investor, {"webhook_url": url})
    assert commands.settings(investor)[1] == 0  # nothing was saved
