"""The offline provider's company summary reads as English and never invents facts."""

from __future__ import annotations

from hunter_cli.providers.ai.offline import summarize_company


def test_the_article_follows_the_industry():
    assert summarize_company({"name": "Birchleaf", "industry": "E-commerce"})["summary"] == (
        "Birchleaf is an E-commerce company."
    )
    assert summarize_company({"name": "Acme", "industry": "SaaS", "size": 3})["summary"] == (
        "Acme is a SaaS company of about 3 people."
    )


def test_nothing_known_is_said_as_such():
    assert summarize_company({"name": "Acme"})["summary"] == (
        "Nothing is known about Acme beyond its name."
    )
    lead = {"name": "Short Row", "company": None, "domain": None, "data": {}}
    assert summarize_company(lead)["summary"] == "Nothing is known about this company."
