"""The offline AI provider: deterministic, no network, and honest about it. It does small
useful jobs with plain rules (expand a query, summarise a company from its fields, fill an
email from a template) and every answer says it was made offline."""

from __future__ import annotations

import json
import re
from typing import Any

from hunter_cli.providers.ai.base import ChatRequest, ChatResponse, ProviderOptions

# Related terms for common B2B search words; enough to make the demo search sensible.
SYNONYMS: dict[str, list[str]] = {
    "saas": ["software", "cloud", "subscription", "b2b"],
    "founder": ["co-founder", "ceo", "owner"],
    "ceo": ["founder", "chief executive"],
    "cto": ["head of engineering", "vp engineering"],
    "marketing": ["growth", "demand generation", "brand"],
    "growth": ["marketing", "acquisition"],
    "sales": ["revenue", "business development", "account executive"],
    "fintech": ["payments", "banking", "finance"],
    "ecommerce": ["e-commerce", "online store", "retail", "shopify"],
    "e-commerce": ["ecommerce", "online store", "retail"],
    "ai": ["machine learning", "ml", "ai/ml"],
    "security": ["cybersecurity", "infosec"],
    "cybersecurity": ["security", "infosec"],
    "health": ["healthcare", "medtech"],
    "healthcare": ["health", "medtech"],
    "hr": ["hr tech", "recruiting", "people"],
    "devtools": ["developer tools", "api", "sdk"],
    "agency": ["marketing agency", "consulting", "services"],
    "logistics": ["shipping", "supply chain", "freight"],
    "education": ["edtech", "learning"],
    "edtech": ["education", "learning"],
}
STOPWORDS = {
    "a",
    "an",
    "and",
    "the",
    "of",
    "for",
    "in",
    "at",
    "to",
    "with",
    "on",
    "or",
    "who",
    "that",
    "find",
    "me",
    "companies",
    "company",
    "people",
    "leads",
}


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9][a-z0-9/&+.-]*", text.lower()) if w not in STOPWORDS]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "as")):
        return word[:-1]
    return word


def expand_query(query: str) -> dict[str, Any]:
    keywords: list[str] = []
    for word in _words(query):
        for term in (word, _singular(word), *SYNONYMS.get(_singular(word), [])):
            if term not in keywords:
                keywords.append(term)
    return {"query": query, "keywords": keywords}


def summarize_company(data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(data.get("company"), dict):
        company = data["company"]
    elif isinstance(data.get("data"), dict):
        # A lead: the company's name is a field, its facts are under data.
        company = {**data["data"], "name": data.get("company"), "domain": data.get("domain")}
    else:
        company = data
    name = company.get("name") or company.get("domain")
    parts = [str(name or "This company")]
    industry = company.get("industry")
    size = company.get("size") or company.get("employees")
    location = company.get("location") or {}
    where = (
        ", ".join(str(location[k]) for k in ("city", "country") if location.get(k))
        if isinstance(location, dict)
        else str(location)
    )
    article = "an" if str(industry)[:1].lower() in "aeiou" else "a"
    description = f"is {article} {industry} company" if industry else "is a company"
    if size:
        description += f" of about {size} people"
    if where:
        description += f" based in {where}"
    if company.get("founded"):
        description += f", founded in {company['founded']}"
    parts.append(description + ".")
    if company.get("description"):
        parts.append(str(company["description"]))
    technologies = company.get("technologies") or []
    if technologies:
        parts.append("Uses " + ", ".join(map(str, technologies)) + ".")
    if len(parts) == 2 and description == "is a company":
        # Nothing known but (at most) a name: say so rather than "X is a company."
        parts = [
            f"Nothing is known about {name} beyond its name."
            if name
            else "Nothing is known about this company."
        ]
    signals = []
    if isinstance(size, int):
        signals.append("small team" if size <= 50 else "mid-size" if size <= 1000 else "large")
    if technologies:
        signals.append(f"{len(technologies)} known technologies")
    return {"summary": " ".join(parts), "industry": industry, "signals": signals}


def write_email(data: dict[str, Any], part: str) -> dict[str, Any]:
    lead: dict[str, Any] = data["lead"] if isinstance(data.get("lead"), dict) else data
    first = (str(lead.get("name") or "there").split() or ["there"])[0]
    company = lead.get("company") or "your team"
    sender = data.get("sender") or data.get("from_name") or "our team"
    industry = (
        (lead.get("data") or {}).get("industry") if isinstance(lead.get("data"), dict) else None
    )
    topic = data.get("topic") or "finding the right customers faster"
    subject = f"{company}: {topic}"
    body = (
        f"Hi {first},\n\n"
        f"I noticed {company}"
        + (f" is doing interesting work in {industry}" if industry else " is growing")
        + f". We help teams like yours with {topic}.\n\n"
        f"Would a 15-minute call next week be useful?\n\n"
        f"Best,\n{sender}"
    )
    return (
        {"subject": subject, "body": body}
        if part == "both"
        else ({"subject": subject} if part == "subject" else {"body": body})
    )


class OfflineProvider:
    name = "offline"

    def __init__(self, options: ProviderOptions | None = None) -> None:
        self.options = options

    def close(self) -> None:
        pass

    def complete(self, request: ChatRequest, *, deadline: float | None = None) -> ChatResponse:
        prompt = request.messages[-1]["content"] if request.messages else ""
        data = request.input
        task = request.task or "generate"
        if task == "expand_query":
            result: Any = expand_query(data if isinstance(data, str) else prompt)
        elif task == "summarize_company":
            result = summarize_company(data if isinstance(data, dict) else {"name": prompt})
        elif task in ("write_email", "write_subject"):
            part = "subject" if task == "write_subject" else "body"
            if request.json_mode:
                part = "both"
            result = write_email(data if isinstance(data, dict) else {}, part)
        else:
            result = {"text": f"[offline draft] {prompt[:500]}"}
        if request.json_mode:
            text = json.dumps(result, ensure_ascii=False)
        elif task == "expand_query":
            text = ", ".join(result["keywords"])
        elif task == "summarize_company":
            text = result["summary"]
        elif task == "write_subject":
            text = result["subject"]
        elif task == "write_email":
            text = result["body"]
        else:
            text = result["text"]
        prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
        completion_tokens = len(text.split())
        return ChatResponse(
            text=text,
            provider="offline",
            model="offline-rules-v1",
            offline=True,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        )
