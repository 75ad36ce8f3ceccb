"""The AI response cache in the workspace database: the same request to the same provider and
model is answered from here instead of being paid for twice. `--no-cache` skips the lookup
but still stores the fresh answer. Offline answers are never cached (they cost nothing)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hunter_cli.db.models import AiResponseCache


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    provider: str
    model: str
    usage: dict[str, Any]
    hits: int


def cache_key(
    *,
    provider: str,
    model: str | None,
    base_url: str | None,
    messages: list[dict[str, str]],
    temperature: float | None,
    max_tokens: int | None,
    json_mode: bool,
) -> str:
    """SHA-256 of the canonical JSON of everything that shapes the answer. base_url is part
    of it: two servers that both call a model "llama3" are not the same model."""
    body = {
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "messages": messages,
        "params": {"temperature": temperature, "max_tokens": max_tokens, "json_mode": json_mode},
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup_answer(session: Session, key: str) -> CachedAnswer | None:
    """The stored answer for this key, counting the hit."""
    row = session.scalars(select(AiResponseCache).where(AiResponseCache.cache_key == key)).first()
    if row is None:
        return None
    session.execute(
        update(AiResponseCache)
        .where(AiResponseCache.id == row.id)
        .values(hits=AiResponseCache.hits + 1)
    )
    return CachedAnswer(row.response_text, row.provider, row.model, dict(row.usage), row.hits + 1)


def store_answer(
    session: Session,
    key: str,
    *,
    provider: str,
    model: str,
    request: dict[str, Any],
    text: str,
    usage: dict[str, Any],
) -> None:
    """Keep (or refresh, after --no-cache) the answer for this key. `request` must already be
    free of secrets: it is stored as given."""
    existing = session.scalars(
        select(AiResponseCache.id).where(AiResponseCache.cache_key == key)
    ).first()
    if existing is not None:
        session.execute(
            update(AiResponseCache)
            .where(AiResponseCache.id == existing)
            .values(model=model, response_text=text, usage=usage, request=request)
        )
        return
    try:
        # A savepoint: a concurrent run storing the same key first must not undo this step.
        with session.begin_nested():
            session.add(
                AiResponseCache(
                    cache_key=key,
                    provider=provider,
                    model=model,
                    request=request,
                    response_text=text,
                    usage=usage,
                    hits=0,
                )
            )
    except IntegrityError:
        pass  # the other run's answer is as good as ours
