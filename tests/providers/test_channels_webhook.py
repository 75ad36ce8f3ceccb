"""Signed webhooks against a receiver that verifies with the `standardwebhooks` package:
headers and signature, the body sent as written, retries with backoff on 5xx, 429 and
timeouts (same webhook-id each time), none on 4xx."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from hunter_cli.providers.channels import ChannelConfigError, DeliveryError, build_provider
from hunter_cli.providers.channels.base import OutgoingMessage
from hunter_cli.providers.channels.webhook import decode_secret, sign
from tests import channel_servers, servers
from tests.channel_servers import WEBHOOK_SECRET
from tests.servers import Reply

http_server = servers.http_server  # fixtures
webhook_receiver = channel_servers.webhook_receiver

ENV = {"WEBHOOK_SECRET": WEBHOOK_SECRET}


def provider(env=ENV, **extra):
    return build_provider("webhook", {"webhook": {"backoff": 0, "timeout": 5, **extra}}, env)


def hook(url: str, payload: dict | None = None, body: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        uuid.uuid4(), f"x:h:webhook:{url}", "webhook", url, None, body, None, payload or {}
    )


def test_a_signed_post_the_standardwebhooks_library_accepts(webhook_receiver):
    data = {"lead": {"name": "Ann", "city": "Zürich"}, "score": 87}
    outgoing = hook(webhook_receiver.url + "?token=abc", {"method": "POST", "json": data})
    receipt = provider().send(outgoing)

    assert webhook_receiver.verified == [data] and webhook_receiver.rejected == []
    request = webhook_receiver.server.requests[0]
    assert request.raw_path == "/hooks/in?token=abc"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == f"msg_{outgoing.id.hex}"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(int(request.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert json.loads(request.body) == data
    assert receipt.provider == "webhook" and receipt.provider_message_id == f"msg_{outgoing.id.hex}"


def test_a_text_only_message_becomes_type_and_text(webhook_receiver):
    provider().send(hook(webhook_receiver.url, {"event": "lead.found"}, body="New lead: Ann"))
    assert webhook_receiver.verified == [{"type": "lead.found", "text": "New lead: Ann"}]


def test_our_signature_is_the_reference_librarys():
    key_secret = WEBHOOK_SECRET
    body = b'{"a":1}'
    ours = sign(decode_secret(key_secret), "msg_1", 1_700_000_000, body)
    theirs = Webhook(key_secret).sign(
        "msg_1", datetime.fromtimestamp(1_700_000_000, UTC), body.decode()
    )
    assert ours == theirs


def test_5xx_is_retried_with_the_same_id_until_it_succeeds(webhook_receiver):
    webhook_receiver.replies = [Reply(status=500), Reply(status=503)]
    outgoing = hook(webhook_receiver.url, {"json": {"n": 1}})
    provider().send(outgoing)
    requests = webhook_receiver.server.requests
    assert len(requests) == 3 and len(webhook_receiver.verified) == 3
    assert {r.headers["webhook-id"] for r in requests} == {f"msg_{outgoing.id.hex}"}


def test_4xx_is_not_retried(webhook_receiver):
    webhook_receiver.replies = [Reply(status=400, json={"error": "unknown lead"})]
    with pytest.raises(DeliveryError) as refused:
        provider().send(hook(webhook_receiver.url, {"json": {"n": 1}}))
    port = webhook_receiver.server.port
    assert refused.value.message == f"http://127.0.0.1:{port}/hooks/in answered 400: unknown lead"
    assert not refused.value.outcome_unknown
    assert len(webhook_receiver.server.requests) == 1


def test_a_wrong_secret_is_refused_by_the_receiver(webhook_receiver):
    other = "whsec_" + "b3RoZXItc2VjcmV0LWtleS1ieXRlcw=="
    with pytest.raises(DeliveryError, match="answered 401"):
        provider(env={"WEBHOOK_SECRET": other}).send(hook(webhook_receiver.url, {"json": {}}))
    assert webhook_receiver.rejected == ["No matching signature found"]


def test_retries_are_bounded_and_honour_retry_after(http_server):
    http_server.route("POST", "/h", Reply(status=429, headers={"Retry-After": "0"}), Reply(500))
    with pytest.raises(DeliveryError, match="answered 500"):
        provider(max_attempts=3).send(hook(http_server.url + "/h", {"json": {}}))
    assert len(http_server.requests) == 3


def test_a_timeout_is_retried_the_receiver_can_drop_the_repeat(http_server):
    http_server.route("POST", "/slow", Reply(status=200, delay=0.4), Reply(status=200))
    provider(timeout=0.1).send(hook(http_server.url + "/slow", {"json": {}}))
    assert len(http_server.requests) == 2
    first, second = http_server.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_redirects_are_not_followed(http_server):
    http_server.route("POST", "/old", Reply(status=301, headers={"Location": "/new"}))
    with pytest.raises(DeliveryError, match="answered 301: a redirect"):
        provider().send(hook(http_server.url + "/old", {"json": {}}))
    assert [r.path for r in http_server.requests] == ["/old"]


@pytest.mark.parametrize(
    ("section", "env", "problem"),
    [
        ({}, {}, "set the environment variable WEBHOOK_SECRET"),
        ({"secret_env": "HOOK_KEY"}, ENV, "set the environment variable HOOK_KEY"),
        ({}, {"WEBHOOK_SECRET": "whsec_not base64!"}, "WEBHOOK_SECRET must hold a Standard"),
        ({"max_attempts": 0}, ENV, "max_attempts must be an integer >= 1"),
    ],
)
def test_configuration_errors(section, env, problem):
    with pytest.raises(ChannelConfigError) as error:
        build_provider("webhook", {"webhook": section}, env)
    assert problem in error.value.message
    assert WEBHOOK_SECRET not in error.value.message
