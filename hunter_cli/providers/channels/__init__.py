"""Delivery providers, one per channel, registered in one table. Modules load on first use."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from hunter_cli.providers.channels.base import (
    ChannelConfig,
    ChannelConfigError,
    ChannelProvider,
    DeliveryError,
    DeliveryReceipt,
    OutgoingMessage,
)

__all__ = [
    "PROVIDERS",
    "ChannelConfigError",
    "ChannelProvider",
    "DeliveryError",
    "DeliveryReceipt",
    "OutgoingMessage",
    "build_provider",
]

# channel -> "module:Class" whose `from_config(ChannelConfig)` builds the provider.
PROVIDERS: dict[str, str] = {
    "email": "hunter_cli.providers.channels.smtp_email:SmtpEmailProvider",
    "sms": "hunter_cli.providers.channels.twilio_sms:TwilioSmsProvider",
    "webhook": "hunter_cli.providers.channels.webhook:WebhookProvider",
    "push": "hunter_cli.providers.channels.ntfy_push:NtfyPushProvider",
}


def build_provider(
    channel: str,
    channels_section: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
) -> ChannelProvider:
    """The provider for `channel`, configured from hunter.toml's [channels] table (and the
    environment variables it names). ChannelConfigError when it cannot deliver as configured."""
    target = PROVIDERS.get(channel)
    if target is None:
        raise ChannelConfigError(
            f"no delivery provider for channel {channel!r}; known: {', '.join(PROVIDERS)}"
        )
    values = (channels_section or {}).get(channel) or {}
    if not isinstance(values, Mapping):
        raise ChannelConfigError(f"[channels.{channel}] must be a table")
    config = ChannelConfig(channel, values, os.environ if environ is None else environ)
    module_name, class_name = target.split(":")
    provider_class = getattr(importlib.import_module(module_name), class_name)
    unknown = sorted(set(values) - provider_class.config_keys)
    if unknown:
        raise ChannelConfigError(
            f"[channels.{channel}] has an unknown key {unknown[0]!r}; known keys: "
            + ", ".join(sorted(provider_class.config_keys))
        )
    return provider_class.from_config(config)
