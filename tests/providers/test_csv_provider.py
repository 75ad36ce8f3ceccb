"""The csv lead provider: a user's own file of people or companies, matched with the local
provider's rules; its path from the step or hunter.toml (relative to the workspace); and
leads from it stored with their provenance on both backends."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from sqlalchemy import select

from hunter_cli.components.actions.lead_search import LeadSearch
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import Settings, load_settings
from hunter_cli.db.models import Lead
from hunter_cli.engine.runner import Runner
from hunter_cli.providers.leads import LeadProviderError, LeadQuery, get_provider
from hunter_cli.recipe import load_and_validate
from hunter_cli.recipe.templates import evaluate_expression, render_value

PEOPLE = (
    "First Name,Last Name,Job Title,Email,Company,Website,Industry,Employees,City,Country,"
    "Tech Stack,Owner\n"
    "Mara,Lind,Founder & CEO,mara@quill.example,Quill Software,https://www.quill.example,SaaS,"
    "40,Berlin,DE,Stripe; HubSpot,anna\n"
    "Tom,Berg,VP Sales,tom@quill.example,Quill Software,quill.example,SaaS,40,Berlin,DE,,anna\n"
    "Ines,Roth,CTO,ines@ferro.example,Ferro Bank,ferro.example,Fintech,900,Munich,DE,Java,ben\n"
    "Olle,Sand,Founder,olle@lagom.example,Lagom Studio,lagom.example,Marketing Agency,8,"
    "Stockholm,SE,,\n"
    ",,,,Nordhavn Logistics,nordhavn.example,Logistics,300,Oslo,NO,,\n"
)


def provider(path: Path):
    return get_provider("csv", {"path": str(path)})


def search(path: Path, text: str = "", keywords=None, filters=None, limit: int = 25):
    return provider(path).search(
        LeadQuery(query=text, keywords=keywords or [], filters=filters or {}, limit=limit)
    )


@pytest.fixture
def people(tmp_path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    return path


def test_role_and_company_words_match_like_local(people):
    founders = search(people, "SaaS founders")
    assert [lead["name"] for lead in founders] == ["Mara Lind"]
    lead = founders[0]
    assert lead["email"] == "mara@quill.example" and lead["domain"] == "quill.example"
    assert lead["title"] == "Founder & CEO" and lead["company"] == "Quill Software"
    assert lead["source_provider"] == "csv"
    assert lead["data"]["industry"] == "SaaS" and lead["data"]["size"] == 40
    assert lead["data"]["location"] == {"city": "Berlin", "country": "DE"}
    assert lead["data"]["technologies"] == ["Stripe", "HubSpot"]
    assert lead["data"]["Owner"] == "anna"  # a column hunter does not know is kept
    every_founder = search(people, keywords=["founder"])
    assert {lead["name"] for lead in every_founder} == {"Mara Lind", "Olle Sand"}


def test_filters_are_the_local_ones(people):
    german = search(people, filters={"country": "de", "size_min": 100})
    assert [lead["name"] for lead in german] == ["Ines Roth"]
    assert [lead["email"] for lead in search(people, filters={"title": "vp"})] == [
        "tom@quill.example"
    ]
    with pytest.raises(LeadProviderError, match="unknown filter 'colour' for the csv"):
        search(people, filters={"colour": "red"})


def test_a_row_without_a_person_is_the_company(people):
    (company,) = search(people, filters={"industry": "logistics"})
    assert company["name"] is None and company["email"] is None
    assert company["company"] == "Nordhavn Logistics" and company["domain"] == "nordhavn.example"
    assert search(people, "logistics founders") == []  # roles asked for: it has none


def test_semicolons_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(
        "\ufeffname;email;company;domain\nJo Park;jo@vela.example;Vela;vela.example\n",
        encoding="utf-8",
    )
    (lead,) = search(path)
    assert lead["name"] == "Jo Park" and lead["domain"] == "vela.example"


def test_the_file_is_read_again_when_it_changes(people):
    assert len(search(people)) == 5
    people.write_text(PEOPLE + "Ana,Cruz,CMO,ana@quill.example,Quill Software,quill.example\n")
    assert len(search(people)) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "no usable header"),
        ("colour,size\nred,3\n", "no usable header"),
    ],
)
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "leads.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LeadProviderError, match=message):
        search(path)


def test_lookups_on_the_file(people):
    found = provider(people).find_email("ines", "ROTH", "ferro.example")
    assert found["email"] == "ines@ferro.example"
    assert found["verification"]["status"] == "unknown"  # nobody verified this address
    assert provider(people).find_email("No", "Body", "ferro.example") is None
    assert provider(people).enrich_company("https://quill.example")["company"] == "Quill Software"


# --- the step ---------------------------------------------------------------------------------


def _ctx(settings: Settings) -> StepContext:
    return StepContext(
        session=None,  # type: ignore[arg-type]
        settings=settings,
        customer_id=uuid.uuid4(),
        execution_id=uuid.uuid4(),
        step_id="search",
        actor="tester",
        template_context={"inputs": {}, "steps": {}, "state": {}},
        render_fn=render_value,
        evaluate_fn=evaluate_expression,
    )


def _settings(workspace: Path | None, providers: dict | None = None) -> Settings:
    sections = MappingProxyType({"providers": providers} if providers else {})
    return Settings(workspace, None, None, None, "tester", sections)


def test_the_path_is_relative_to_the_workspace(tmp_path, people, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # not where the file is
    ctx = _ctx(_settings(tmp_path))
    output = LeadSearch().run(
        {"provider": "csv", "path": "people.csv", "keywords": ["founder"]}, ctx
    )
    assert output["count"] == 2 and ctx.meta["provider"] == "csv"
    # Or from hunter.toml's [providers.csv] path.
    ctx = _ctx(_settings(tmp_path, {"csv": {"path": "people.csv"}}))
    assert LeadSearch().run({"provider": "csv"}, ctx)["count"] == 5
    with pytest.raises(StepError, match="csv: no file to search"):
        LeadSearch().run({"provider": "csv"}, _ctx(_settings(tmp_path)))
    with pytest.raises(StepError, match="path names a file for the csv provider; apollo"):
        LeadSearch().run({"provider": "apollo", "path": "people.csv"}, _ctx(_settings(tmp_path)))
    with pytest.raises(StepError, match="missing.csv: no such file"):
        LeadSearch().run({"provider": "csv", "path": "missing.csv"}, _ctx(_settings(tmp_path)))


def test_a_big_file_is_not_cut_at_an_api_providers_page_limit(tmp_path):
    rows = ["name,email,company,domain"] + [
        f"Person {n},p{n}@c{n}.example,Company {n},c{n}.example" for n in range(1500)
    ]
    (tmp_path / "many.csv").write_text("\n".join(rows) + "\n")
    ctx = _ctx(_settings(tmp_path))
    output = LeadSearch().run({"provider": "csv", "path": "many.csv", "limit": 2000}, ctx)
    assert output["count"] == 1500 and ctx.warnings == []
    # An API provider still asks for at most 1,000, and says so.
    from hunter_cli.components.actions.lead_search import _limit

    warnings: list[str] = []
    assert _limit(5000, "hunter_io", warnings) == 1000
    assert warnings == ["lead_search: limit 5000 is more than hunter_io gives (1000): using 1000"]


def test_csv_leads_are_stored_with_their_provenance(seeded, tmp_path, people):
    (tmp_path / "hunter.toml").write_text('[providers.csv]\npath = "people.csv"\n')
    recipe = {
        "slug": "mine",
        "name": "My file",
        "version": 1,
        "steps": [
            {"id": "search", "type": "action", "action": "lead_search", "provider": "csv",
             "query": "SaaS"},
            {"id": "store", "type": "action", "action": "db_query", "query": "upsert_leads",
             "write": True, "params": {"leads": "{{ steps.search.output.leads }}"}},
        ],
        "outputs": {"created": "{{ steps.store.output.created }}"},
    }  # fmt: skip
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    settings = load_settings(
        config=tmp_path / "hunter.toml", database_url=seeded.url, actor="tester", environ={}
    )
    result = Runner(seeded, settings).run(load_and_validate(str(path)), "acme", {})
    assert result.status == "success", result.error
    assert result.outputs == {"created": 2}
    with seeded.session() as session:
        leads = session.scalars(select(Lead).order_by(Lead.email)).all()
        assert [lead.email for lead in leads] == ["mara@quill.example", "tom@quill.example"]
        provenance = leads[0].data["_provenance"]
        assert provenance["email"] == provenance["industry"] == provenance["Owner"] == "csv"
        assert leads[0].source["provider"] == "csv"
