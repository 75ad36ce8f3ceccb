"""The ntfy push provider against a fake ntfy server on loopback: the publish headers,
the bearer token, the message id kept, refusals and configuration errors."""

from __future__ import annotations

import uuid
from email.header import decode_header

import pytest

from hunter_cli.providers.channels import ChannelConfigError, DeliveryError, build_provider
from hunter_cli.providers.channels.base import OutgoingMessage
from tests import channel_servers, servers
from tests.channel_servers import NTFY_TOKEN
from tests.servers import Reply

http_server = servers.http_server  # fixtures
ntfy = channel_servers.ntfy

ENV = {"NTFY_TOKEN": NTFY_TOKEN}


def provider(server_url: str, env=ENV, **extra):
    section = {"server": server_url, "backoff": 0, "timeout": 5, **extra}
    return build_provider("push", {"push": section}, env)


def push(topic: str = "leads-acme", subject: str | None = "New lead", **payload) -> OutgoingMessage:
    return OutgoingMessage(
        uuid.uuid4(),
        f"x:p:push:{topic}",
        "push",
        topic,
        subject,
        "Ann Lee at Acme Dental scored 87",
        None,
        {"topic": topic, **payload},
    )


def test_publishes_with_title_priority_tags_click_and_bearer_token(ntfy):
    ntfy.topic("leads-acme")
    chosen = provider(ntfy.url, priority="high", tags=["tada", "hunter"])
    receipt = chosen.send(push(url="https://app.example/leads/1"))

    request = ntfy.published[0]
    assert (request.method, request.path) == ("POST", "/leads-acme")
    assert request.body.decode() == "Ann Lee at Acme Dental scored 87"
    assert request.headers["title"] == "New lead"
    assert request.headers["priority"] == "high"
    assert request.headers["tags"] == "tada,hunter"
    assert request.headers["click"] == "https://app.example/leads/1"
    assert request.headers["authorization"] == f"Bearer {NTFY_TOKEN}"
    assert receipt.provider == "ntfy" and receipt.provider_message_id == "ntfy0001"


def test_a_steps_priority_and_tags_win_and_unicode_titles_are_encoded(ntfy):
    ntfy.topic("leads-acme")
    chosen = provider(ntfy.url, priority="low", tags="hunter")
    chosen.send(push(subject="Neuer Lead: Zürich", priority=5, tags=["fire"]))
    request = ntfy.published[0]
    assert (request.headers["priority"], request.headers["tags"]) == ("5", "fire")
    decoded = decode_header(request.headers["title"])[0]
    assert decoded[0].decode(decoded[1]) == "Neuer Lead: Zürich"


def test_without_a_token_no_authorization_header(ntfy):
    ntfy.token = None
    ntfy.topic("open")
    provider(ntfy.url, env={}).send(push("open", subject=None))
    assert "authorization" not in ntfy.published[0].headers
    assert "title" not in ntfy.published[0].headers


def test_a_refused_token_stops_the_channel_without_showing_it(ntfy):
    ntfy.topic("leads-acme")
    with pytest.raises(DeliveryError) as refused:
        provider(ntfy.url, env={"NTFY_TOKEN": "tk_wrong"}).send(push())
    assert refused.value.channel_down and "unauthorized" in refused.value.message
    assert "tk_wrong" not in refused.value.message and ntfy.published == []


def test_other_errors_fail_the_message_and_503_is_retried(http_server):
    http_server.route("POST", "/t", Reply(status=503), Reply(json={"id": "x1"}))
    assert provider(http_server.url).send(push("t")).provider_message_id == "x1"
    http_server.route("POST", "/t", Reply(status=403, json={"error": "forbidden topic"}))
    with pytest.raises(DeliveryError) as forbidden:
        provider(http_server.url).send(push("t"))
    assert "answered 403: forbidden topic" in forbidden.value.message
    assert not forbidden.value.channel_down
    assert len(http_server.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 504])
def test_another_5xx_is_not_retried_and_its_outcome_is_unknown(http_server, status):
    """Regression: a 502 (a proxy in front of ntfy, say, after ntfy took the message) was
    retried, and the notification went out twice."""
    http_server.route("POST", "/t", Reply(status=status), Reply(json={"id": "x1"}))
    with pytest.raises(DeliveryError) as unknown:
        provider(http_server.url).send(push("t"))
    assert unknown.value.outcome_unknown
    assert "it may or may not have taken the message" in unknown.value.message
    assert len(http_server.requests) == 1


@pytest.mark.parametrize(
    ("section", "env", "problem"),
    [
        ({"token_env": "MY_NTFY"}, {}, "set the environment variable MY_NTFY"),
        ({"priority": "loud"}, {}, "priority must be 1-5"),
        ({"timeout": -1}, {}, "timeout must be a number"),
    ],
)
def test_configuration_errors(section, env, problem):
    with pytest.raises(ChannelConfigError) as error:
        build_provider("push", {"push": section}, env)
    assert problem in error.value.message
