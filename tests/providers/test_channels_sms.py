"""The Twilio SMS provider against a fake Messages API on loopback: form fields and basic
auth, the sid kept, E.164 checked before sending, retries on 429/503 only, and a timeout
or another 5xx that is never retried (Twilio could have sent it)."""

from __future__ import annotations

import base64
import uuid

import pytest

from hunter_cli.providers.channels import ChannelConfigError, DeliveryError, build_provider
from hunter_cli.providers.channels.base import OutgoingMessage
from tests import channel_servers, servers
from tests.channel_servers import TWILIO_SID, TWILIO_TOKEN, FakeTwilio
from tests.servers import Reply

http_server = servers.http_server  # fixtures
twilio = channel_servers.twilio

ENV = {"TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN}


def provider(fake: FakeTwilio, env=ENV, **extra):
    section = {"from": "+15005550006", "base_url": fake.url, "backoff": 0, "timeout": 5, **extra}
    return build_provider("sms", {"sms": section}, env)


def sms(to: str = "+4930123456", body: str = "Hi Ann, quick question?") -> OutgoingMessage:
    return OutgoingMessage(uuid.uuid4(), f"x:s:sms:{to}", "sms", to, None, body, None, {})


def test_posts_the_form_with_basic_auth_and_keeps_the_sid(twilio):
    receipt = provider(twilio).send(sms())

    request = twilio.server.requests[0]
    assert (request.method, request.path) == (
        "POST",
        f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
    )
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.form == {
        "To": ["+4930123456"],
        "From": ["+15005550006"],
        "Body": ["Hi Ann, quick question?"],
    }
    assert receipt.provider == "twilio" and receipt.provider_message_id == "SM" + "0" * 32


def test_messaging_service_and_opt_out_text(twilio):
    chosen = provider(twilio, messaging_service_sid="MG123", opt_out_text="Reply STOP to stop.")
    chosen.send(sms(body="Hello"))
    assert twilio.sent[0]["MessagingServiceSid"] == "MG123"
    assert twilio.sent[0]["Body"] == "Hello\nReply STOP to stop."


@pytest.mark.parametrize("number", ["4930123456", "+0123456", "+49 30 123", "ann@example.com"])
def test_numbers_are_checked_as_e164_before_anything_is_sent(twilio, number):
    with pytest.raises(DeliveryError, match="not an E.164 phone number"):
        provider(twilio).send(sms(number))
    assert twilio.server.requests == []


def test_too_long_or_empty_bodies_are_refused_locally(twilio):
    with pytest.raises(DeliveryError, match="Twilio takes 1600"):
        provider(twilio).send(sms(body="x" * 1601))
    with pytest.raises(DeliveryError, match="empty SMS body"):
        provider(twilio).send(sms(body="  "))
    assert twilio.server.requests == []


def test_a_refused_number_is_not_retried(twilio):
    twilio.invalid.add("+4930999999")
    with pytest.raises(DeliveryError) as refused:
        provider(twilio).send(sms("+4930999999"))
    assert refused.value.message == (
        "Twilio refused the message (400): The 'To' number +4930999999 is not a valid phone "
        "number. (Twilio error 21211)"
    )
    assert not refused.value.channel_down and len(twilio.server.requests) == 1


def test_bad_credentials_stop_the_channel_without_showing_the_token(twilio):
    env = {**ENV, "TWILIO_AUTH_TOKEN": "not-" + TWILIO_TOKEN}
    with pytest.raises(DeliveryError) as refused:
        provider(twilio, env=env).send(sms())
    assert refused.value.channel_down and "Twilio error 20003" in refused.value.message
    assert TWILIO_TOKEN not in refused.value.message
    assert len(twilio.server.requests) == 1


def test_429_and_503_are_retried_with_retry_after(http_server):
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    http_server.route(
        "POST",
        path,
        Reply(status=429, headers={"Retry-After": "0"}, json={"code": 20429}),
        Reply(status=503, json={"message": "unavailable"}),
        Reply(status=201, json={"sid": "SM1"}),
    )
    receipt = provider(_At(http_server.url)).send(sms())
    assert receipt.provider_message_id == "SM1"
    assert len(http_server.requests) == 3

    # Regression: a 429 or 503 to the last attempt failed the message for good, although
    # nothing was sent (an SMTP 4xx leaves it queued); and a Retry-After of a day was waited
    # out up to max_backoff on every attempt, then failed anyway.
    http_server.route("POST", path, Reply(status=503, json={"message": "unavailable"}))
    with pytest.raises(DeliveryError, match=r"Twilio answered 503 \(unavailable\) after 2 ") as e:
        provider(_At(http_server.url), max_attempts=2).send(sms())
    assert e.value.retry_later and "stays queued for a later `hunter outbox send`" in str(e.value)
    assert len(http_server.requests) == 5
    http_server.route("POST", path, Reply(status=429, headers={"Retry-After": "86400"}))
    with pytest.raises(DeliveryError, match=r"asking to wait 24 h\) after 1 attempt") as e:
        provider(_At(http_server.url), max_attempts=3).send(sms())
    assert e.value.retry_later and len(http_server.requests) == 6  # not asked again


@pytest.mark.parametrize("status", [500, 502, 504])
def test_another_5xx_is_not_retried_and_its_outcome_is_unknown(http_server, status):
    """Regression: a 502 or 504 (Twilio's, or a proxy's after Twilio took the message) was
    retried, and the SMS went out two or three times: the Messages API has no idempotency
    key, so such an answer may mean it was sent."""
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    http_server.route(
        "POST", path, Reply(status=status, json={"message": "gateway"}), Reply(201, json={})
    )
    with pytest.raises(DeliveryError) as unknown:
        provider(_At(http_server.url)).send(sms())
    assert unknown.value.outcome_unknown and not unknown.value.channel_down
    assert unknown.value.message == (
        f"Twilio answered {status} (gateway): it may or may not have taken the message"
    )
    assert len(http_server.requests) == 1


def test_a_timeout_is_not_retried_and_its_outcome_is_unknown(http_server):
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    http_server.route("POST", path, Reply(status=201, json={"sid": "SM1"}, delay=0.5))
    with pytest.raises(DeliveryError) as unknown:
        provider(_At(http_server.url), timeout=0.1).send(sms())
    assert unknown.value.outcome_unknown and "may or may not" in unknown.value.message
    assert len(http_server.requests) == 1


def test_unreachable_twilio_stops_the_channel():
    with pytest.raises(DeliveryError) as down:
        provider(_At("http://127.0.0.1:1"), max_attempts=2).send(sms())
    assert down.value.channel_down and "cannot reach Twilio" in down.value.message


@pytest.mark.parametrize(
    ("section", "env", "problem"),
    [
        ({"from": "+15005550006"}, {}, "set the environment variable TWILIO_ACCOUNT_SID"),
        (
            {"from": "+15005550006"},
            {"TWILIO_ACCOUNT_SID": TWILIO_SID},
            "set the environment variable TWILIO_AUTH_TOKEN",
        ),
        (
            {"from": "+15005550006", "auth_token_env": "MY_TWILIO"},
            ENV,
            "set the environment variable MY_TWILIO",
        ),
        ({}, ENV, "needs [channels.sms] from"),
        ({"from": "5550006"}, ENV, "from must be an E.164 number"),
        ({"from": "+15005550006", "max_attempts": 0}, ENV, "max_attempts must be an integer"),
    ],
)
def test_configuration_errors(section, env, problem):
    with pytest.raises(ChannelConfigError) as error:
        build_provider("sms", {"sms": section}, env)
    assert problem in error.value.message
    assert TWILIO_TOKEN not in error.value.message


class _At:
    """Just a base URL, for tests that script the server's answers themselves."""

    def __init__(self, url: str) -> None:
        self.url = url
