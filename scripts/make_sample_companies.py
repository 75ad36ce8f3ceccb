"""Generate the bundled sample lead dataset at ``seeds/companies.json``.

Every company, person, domain and phone number in the output is invented:

* domains all live under the reserved ``.example`` top-level domain (RFC 2606);
* LinkedIn-style profile URLs point at ``linkedin.example`` rather than a real site;
* phone numbers come from ranges that regulators reserve for fiction (NANP 555-01XX,
  Ofcom 07700 900XXX, ACMA 5550 XXXX, ARCEP fiction blocks, Bundesnetzagentur
  drama numbers). Countries without a published fictional block reuse the UK range.

A handful of near-duplicate records (name spelling, suffix or ``www.`` domain
variants of another entry) are mixed in so de-duplication code has real work to do.

The generator uses a seeded :class:`random.Random` and the standard library only, so
running it twice produces byte-identical output::

    python scripts/make_sample_companies.py
"""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from pathlib import Path
from typing import Any

SEED = 20240611
OUTPUT = Path(__file__).resolve().parent.parent / "seeds" / "companies.json"
NEAR_DUPLICATES = 10

# Companies per industry. SaaS is deliberately over-represented so that a search for
# "SaaS founders" has plenty of matches.
INDUSTRY_COUNTS: dict[str, int] = {
    "SaaS": 62,
    "Fintech": 19,
    "E-commerce": 19,
    "Healthcare": 18,
    "Cybersecurity": 18,
    "Marketing Agency": 18,
    "Logistics": 18,
    "EdTech": 18,
    "Manufacturing": 18,
    "Real Estate": 17,
    "HR Tech": 18,
    "DevTools": 18,
    "AI/ML": 18,
    "Consulting": 17,
    "Media": 17,
}

# Per industry: company-name descriptors, the "lead" noun phrase of a description,
# (audience, audience keyword) pairs, (offering, offering keyword) pairs, extra
# keywords and technologies the industry leans towards.
INDUSTRIES: dict[str, dict[str, list[Any]]] = {
    "SaaS": {
        "descriptors": ["Software", "Cloud", "Apps", "Labs", "HQ", "Suite", "Desk", "Works"],
        "leads": ["SaaS platform", "Cloud software company", "B2B SaaS startup"],
        "audiences": [
            ("founders", "founders"),
            ("early-stage founders", "founders"),
            ("startup teams", "startup"),
            ("finance teams", "finance"),
            ("sales teams", "sales"),
            ("customer success teams", "customer success"),
            ("agencies", "agencies"),
        ],
        "offerings": [
            ("automate invoicing for small teams", "invoicing"),
            ("track recurring revenue and churn", "subscription analytics"),
            ("run customer onboarding without spreadsheets", "onboarding"),
            ("manage contracts and e-signatures", "contracts"),
            ("plan and forecast cash flow", "forecasting"),
            ("collect and act on customer feedback", "feedback"),
            ("schedule meetings across time zones", "scheduling"),
            ("build internal dashboards in minutes", "dashboards"),
        ],
        "extras": ["saas", "b2b", "subscription", "startup", "productivity"],
        "tech": ["Stripe", "AWS", "React", "PostgreSQL", "Segment", "Intercom", "HubSpot"],
    },
    "Fintech": {
        "descriptors": ["Pay", "Capital", "Ledger", "Finance", "Money", "Treasury"],
        "leads": ["Fintech company", "Payments startup", "Financial infrastructure provider"],
        "audiences": [
            ("SMBs", "smb"),
            ("online merchants", "merchants"),
            ("CFOs", "cfo"),
            ("freelancers", "freelancers"),
            ("marketplaces", "marketplaces"),
        ],
        "offerings": [
            ("accept cross-border payments", "payments"),
            ("reconcile bank transactions automatically", "reconciliation"),
            ("issue corporate cards with spend controls", "corporate cards"),
            ("access revenue-based financing", "financing"),
            ("stay compliant with KYC checks", "kyc"),
        ],
        "extras": ["fintech", "payments", "banking", "b2b", "compliance"],
        "tech": ["Stripe", "AWS", "Python", "PostgreSQL", "Snowflake", "Twilio", "Kubernetes"],
    },
    "E-commerce": {
        "descriptors": ["Commerce", "Goods", "Market", "Store", "Supply", "Cart"],
        "leads": ["E-commerce brand", "Online retailer", "Direct-to-consumer store"],
        "audiences": [
            ("home cooks", "home cooks"),
            ("outdoor enthusiasts", "outdoor"),
            ("small offices", "office supplies"),
            ("pet owners", "pets"),
            ("independent cafes", "cafes"),
        ],
        "offerings": [
            ("order sustainable everyday essentials", "sustainability"),
            ("subscribe to curated product boxes", "subscription boxes"),
            ("buy refurbished equipment with a warranty", "refurbished"),
            ("restock supplies on a schedule", "replenishment"),
        ],
        "extras": ["ecommerce", "retail", "dtc", "online store", "shopify"],
        "tech": ["Shopify", "Stripe", "Segment", "Zendesk", "Google Analytics", "Mailchimp"],
    },
    "Healthcare": {
        "descriptors": ["Health", "Care", "Clinic", "Medical", "Wellness", "Bio"],
        "leads": ["Digital health company", "Healthcare technology provider", "Care platform"],
        "audiences": [
            ("clinics", "clinics"),
            ("care homes", "care homes"),
            ("employers", "employee health"),
            ("pharmacies", "pharmacy"),
            ("physiotherapists", "physiotherapy"),
        ],
        "offerings": [
            ("manage patient scheduling and reminders", "patient scheduling"),
            ("offer remote consultations", "telehealth"),
            ("digitise intake forms", "patient intake"),
            ("monitor chronic conditions at home", "remote monitoring"),
        ],
        "extras": ["healthcare", "healthtech", "patients", "clinical", "b2b"],
        "tech": ["Azure", "Python", "PostgreSQL", "Twilio", "Salesforce", "React"],
    },
    "Cybersecurity": {
        "descriptors": ["Security", "Shield", "Secure", "Guard", "Defense", "Sentinel"],
        "leads": ["Cybersecurity company", "Security platform", "Managed security provider"],
        "audiences": [
            ("mid-market IT teams", "it teams"),
            ("SaaS vendors", "saas vendors"),
            ("security teams", "security teams"),
            ("regulated industries", "regulated"),
        ],
        "offerings": [
            ("detect phishing before it reaches the inbox", "phishing"),
            ("prepare for SOC 2 audits", "soc 2"),
            ("manage third-party vendor risk", "vendor risk"),
            ("monitor cloud infrastructure for misconfigurations", "cloud security"),
            ("run continuous penetration tests", "pentesting"),
        ],
        "extras": ["cybersecurity", "security", "compliance", "infosec", "b2b"],
        "tech": ["AWS", "Kubernetes", "Python", "GCP", "Slack", "Datadog", "Terraform"],
    },
    "Marketing Agency": {
        "descriptors": ["Media", "Creative", "Studio", "Growth", "Digital", "Collective"],
        "leads": ["Marketing agency", "Growth marketing studio", "Performance marketing agency"],
        "audiences": [
            ("B2B startups", "startup"),
            ("SaaS companies", "saas"),
            ("local businesses", "local business"),
            ("e-commerce brands", "ecommerce"),
        ],
        "offerings": [
            ("generate qualified leads through paid search", "paid search"),
            ("grow organic traffic with content and SEO", "seo"),
            ("launch account-based marketing campaigns", "abm"),
            ("run outbound email programmes", "outbound"),
        ],
        "extras": ["marketing", "agency", "lead generation", "demand gen", "b2b"],
        "tech": ["HubSpot", "Salesforce", "Google Analytics", "Mailchimp", "Slack", "Zapier"],
    },
    "Logistics": {
        "descriptors": ["Logistics", "Freight", "Transit", "Cargo", "Routes", "Fleet"],
        "leads": ["Logistics company", "Freight-tech startup", "Fulfilment provider"],
        "audiences": [
            ("online retailers", "retailers"),
            ("manufacturers", "manufacturers"),
            ("fleet operators", "fleet"),
            ("importers", "importers"),
        ],
        "offerings": [
            ("book and track freight in one place", "freight"),
            ("optimise last-mile delivery routes", "last mile"),
            ("outsource warehousing and fulfilment", "fulfilment"),
            ("clear customs paperwork faster", "customs"),
        ],
        "extras": ["logistics", "supply chain", "shipping", "b2b", "operations"],
        "tech": ["AWS", "Python", "PostgreSQL", "Twilio", "Azure", "Salesforce"],
    },
    "EdTech": {
        "descriptors": ["Learning", "Academy", "Edu", "Classroom", "Tutor", "Campus"],
        "leads": ["EdTech company", "Online learning platform", "Education software provider"],
        "audiences": [
            ("schools", "schools"),
            ("universities", "universities"),
            ("corporate L&D teams", "l&d"),
            ("coding bootcamps", "bootcamps"),
        ],
        "offerings": [
            ("deliver live cohort-based courses", "cohort courses"),
            ("track student progress", "student progress"),
            ("build compliance training", "compliance training"),
            ("assess skills with adaptive quizzes", "assessments"),
        ],
        "extras": ["edtech", "education", "learning", "e-learning", "training"],
        "tech": ["GCP", "React", "Python", "Zendesk", "Stripe", "PostgreSQL"],
    },
    "Manufacturing": {
        "descriptors": ["Industries", "Manufacturing", "Works", "Fabrication", "Components"],
        "leads": ["Manufacturer", "Contract manufacturer", "Industrial components maker"],
        "audiences": [
            ("automotive suppliers", "automotive"),
            ("hardware startups", "hardware"),
            ("food producers", "food production"),
            ("renewable energy firms", "renewables"),
        ],
        "offerings": [
            ("source precision-machined parts", "cnc machining"),
            ("produce custom packaging", "packaging"),
            ("prototype and scale electronics assembly", "electronics assembly"),
            ("print industrial parts on demand", "3d printing"),
        ],
        "extras": ["manufacturing", "industrial", "b2b", "supply chain", "factory"],
        "tech": ["Azure", "Salesforce", "Python", "Snowflake", "Slack", "PostgreSQL"],
    },
    "Real Estate": {
        "descriptors": ["Properties", "Realty", "Estates", "Spaces", "Homes", "Living"],
        "leads": ["Proptech company", "Real estate platform", "Property services firm"],
        "audiences": [
            ("landlords", "landlords"),
            ("property managers", "property management"),
            ("commercial tenants", "commercial real estate"),
            ("estate agents", "agents"),
        ],
        "offerings": [
            ("collect rent and manage maintenance requests", "rent collection"),
            ("find flexible office space", "flexible office"),
            ("value properties with market data", "valuation"),
            ("run virtual viewings", "virtual tours"),
        ],
        "extras": ["real estate", "proptech", "property", "b2b", "rentals"],
        "tech": ["Salesforce", "HubSpot", "AWS", "React", "Twilio", "Stripe"],
    },
    "HR Tech": {
        "descriptors": ["People", "Talent", "Hire", "Team", "Crew", "Workforce"],
        "leads": ["HR tech company", "People platform", "Recruiting software provider"],
        "audiences": [
            ("HR teams", "hr"),
            ("remote-first companies", "remote work"),
            ("hiring managers", "hiring"),
            ("growing startups", "startup"),
        ],
        "offerings": [
            ("run payroll across countries", "payroll"),
            ("screen candidates fairly", "recruiting"),
            ("onboard new hires", "employee onboarding"),
            ("measure employee engagement", "engagement"),
        ],
        "extras": ["hr tech", "hr", "people ops", "talent", "b2b"],
        "tech": ["Slack", "AWS", "React", "PostgreSQL", "Intercom", "HubSpot"],
    },
    "DevTools": {
        "descriptors": ["Dev", "Code", "Stack", "Build", "Deploy", "Ops"],
        "leads": ["Developer tools company", "DevTools startup", "Developer platform"],
        "audiences": [
            ("engineering teams", "engineering"),
            ("platform teams", "platform engineering"),
            ("open-source maintainers", "open source"),
            ("mobile developers", "mobile"),
        ],
        "offerings": [
            ("ship preview environments for every pull request", "preview environments"),
            ("find flaky tests", "testing"),
            ("observe production incidents", "observability"),
            ("manage feature flags", "feature flags"),
            ("speed up CI pipelines", "ci/cd"),
        ],
        "extras": ["devtools", "developers", "api", "b2b", "infrastructure"],
        "tech": ["Kubernetes", "GCP", "AWS", "Python", "PostgreSQL", "Slack", "Terraform"],
    },
    "AI/ML": {
        "descriptors": ["AI", "Intelligence", "Neural", "Vision", "Models", "Analytics"],
        "leads": ["AI company", "Machine learning startup", "Applied AI lab"],
        "audiences": [
            ("support teams", "customer support"),
            ("insurers", "insurance"),
            ("retailers", "retail"),
            ("legal teams", "legal"),
        ],
        "offerings": [
            ("summarise support tickets", "summarisation"),
            ("extract data from documents", "document ai"),
            ("forecast demand", "demand forecasting"),
            ("label training data", "data labelling"),
        ],
        "extras": ["ai", "machine learning", "llm", "automation", "b2b"],
        "tech": ["Python", "GCP", "AWS", "Kubernetes", "Snowflake", "PostgreSQL"],
    },
    "Consulting": {
        "descriptors": ["Partners", "Advisory", "Consulting", "Group", "Associates"],
        "leads": ["Consultancy", "Advisory firm", "Management consulting firm"],
        "audiences": [
            ("scale-ups", "scale-ups"),
            ("private equity portfolios", "private equity"),
            ("public sector bodies", "public sector"),
            ("family businesses", "family business"),
        ],
        "offerings": [
            ("plan digital transformation", "digital transformation"),
            ("set up revenue operations", "revops"),
            ("migrate to the cloud", "cloud migration"),
            ("improve operational efficiency", "operations"),
        ],
        "extras": ["consulting", "advisory", "strategy", "b2b", "services"],
        "tech": ["Salesforce", "Azure", "HubSpot", "Slack", "Snowflake", "Zapier"],
    },
    "Media": {
        "descriptors": ["Media", "Press", "Studios", "Broadcast", "Publishing", "Pictures"],
        "leads": ["Media company", "Digital publisher", "Content studio"],
        "audiences": [
            ("B2B brands", "b2b marketing"),
            ("tech companies", "tech news"),
            ("marketing teams", "branded content"),
            ("event organisers", "events"),
        ],
        "offerings": [
            ("reach niche professional audiences", "audience"),
            ("produce branded video series", "video"),
            ("publish sponsored newsletters", "newsletters"),
            ("promote live events and podcasts", "podcasts"),
        ],
        "extras": ["media", "content", "publishing", "advertising", "newsletter"],
        "tech": ["GCP", "React", "Segment", "Mailchimp", "Stripe", "Google Analytics"],
    },
}

ALL_TECH = [
    "Salesforce",
    "HubSpot",
    "Stripe",
    "AWS",
    "GCP",
    "Azure",
    "React",
    "Python",
    "Shopify",
    "Segment",
    "Snowflake",
    "Kubernetes",
    "Intercom",
    "Zendesk",
    "Slack",
    "PostgreSQL",
    "Twilio",
    "Google Analytics",
    "Mailchimp",
    "Datadog",
    "Terraform",
    "Zapier",
]

NAME_PREFIXES = [
    "Bright", "North", "Blue", "Silver", "Amber", "Cedar", "Clear", "Copper", "Ember",
    "Falcon", "Fern", "Granite", "Harbor", "Indigo", "Juniper", "Kestrel", "Lumen",
    "Maple", "Nimbus", "Oak", "Orbit", "Pine", "Quill", "Raven", "Sage", "Slate",
    "Solar", "Spruce", "Summit", "Tidal", "Umber", "Vale", "Willow", "Zephyr", "Aster",
    "Birch", "Cobalt", "Drift", "Echo", "Flint", "Glow", "Heron", "Iris", "Lark",
    "Meadow", "Nova", "Opal", "Pebble", "Quartz", "Ridge", "Saffron", "Thistle",
]  # fmt: skip

NAME_ROOTS = [
    "path", "stone", "leaf", "field", "brook", "crest", "gate", "haven", "line", "mark",
    "point", "ridge", "shore", "spark", "stack", "wave", "well", "wing", "wood", "loop",
    "forge", "light", "bay", "peak", "nest", "grove", "bridge", "mill",
]  # fmt: skip

# Suffixes by country (None means no suffix).
SUFFIXES: dict[str, list[str]] = {
    "US": ["Inc", "Inc.", "LLC", "Corp."],
    "CA": ["Inc.", "Ltd.", "Corp."],
    "UK": ["Ltd", "Ltd.", "Limited", "PLC"],
    "DE": ["GmbH", "AG", "GmbH & Co. KG"],
    "FR": ["S.A.", "SAS", "SARL"],
    "NL": ["B.V.", "N.V."],
    "AU": ["Pty Ltd", "Pty. Ltd."],
    "IN": ["Pvt Ltd", "Private Limited"],
    "SG": ["Pte Ltd", "Pte. Ltd."],
    "BR": ["Ltda", "S.A."],
}

# (city, region, phone prefix after the country code). Phone prefixes are the fictional
# ranges described in the module docstring; see ``make_phone``.
LOCATIONS: dict[str, list[tuple[str, str, str]]] = {
    "US": [
        ("San Francisco", "California", "41555501"),
        ("Austin", "Texas", "51255501"),
        ("New York", "New York", "21255501"),
        ("Boston", "Massachusetts", "61755501"),
        ("Seattle", "Washington", "20655501"),
        ("Denver", "Colorado", "30355501"),
        ("Chicago", "Illinois", "31255501"),
        ("Atlanta", "Georgia", "40455501"),
        ("Raleigh", "North Carolina", "91955501"),
        ("Portland", "Oregon", "50355501"),
    ],
    "CA": [
        ("Toronto", "Ontario", "41655501"),
        ("Vancouver", "British Columbia", "60455501"),
        ("Montreal", "Quebec", "51455501"),
        ("Calgary", "Alberta", "40355501"),
    ],
    "UK": [
        ("London", "England", ""),
        ("Manchester", "England", ""),
        ("Edinburgh", "Scotland", ""),
        ("Bristol", "England", ""),
        ("Cardiff", "Wales", ""),
        ("Leeds", "England", ""),
    ],
    "DE": [
        ("Berlin", "Berlin", "3023125"),
        ("Munich", "Bavaria", "8999998"),
        ("Hamburg", "Hamburg", "4066969"),
        ("Cologne", "North Rhine-Westphalia", "2214710"),
        ("Frankfurt", "Hesse", "6990009"),
    ],
    "FR": [
        ("Paris", "Île-de-France", "19900"),
        ("Lyon", "Auvergne-Rhône-Alpes", "46571"),
        ("Bordeaux", "Nouvelle-Aquitaine", "53649"),
        ("Toulouse", "Occitanie", "53649"),
        ("Nantes", "Pays de la Loire", "26191"),
    ],
    "NL": [
        ("Amsterdam", "North Holland", ""),
        ("Rotterdam", "South Holland", ""),
        ("Utrecht", "Utrecht", ""),
        ("Eindhoven", "North Brabant", ""),
    ],
    "AU": [
        ("Sydney", "New South Wales", "25550"),
        ("Melbourne", "Victoria", "35550"),
        ("Brisbane", "Queensland", "75550"),
        ("Perth", "Western Australia", "85550"),
    ],
    "IN": [
        ("Bengaluru", "Karnataka", ""),
        ("Mumbai", "Maharashtra", ""),
        ("Hyderabad", "Telangana", ""),
        ("Pune", "Maharashtra", ""),
    ],
    "SG": [("Singapore", "Central Region", "")],
    "BR": [
        ("São Paulo", "São Paulo", ""),
        ("Rio de Janeiro", "Rio de Janeiro", ""),
        ("Florianópolis", "Santa Catarina", ""),
        ("Belo Horizonte", "Minas Gerais", ""),
    ],
}

COUNTRY_CODES = {"US": "1", "CA": "1", "UK": "44", "DE": "49", "FR": "33", "AU": "61"}

COUNTRY_WEIGHTS: dict[str, int] = {
    "US": 30,
    "UK": 14,
    "DE": 9,
    "FR": 7,
    "NL": 6,
    "CA": 8,
    "AU": 7,
    "IN": 8,
    "SG": 4,
    "BR": 7,
}

FIRST_NAMES = [
    "Amara", "Bastian", "Chiara", "Dmitri", "Ebele", "Farah", "Gideon", "Hana", "Ilse",
    "Jomo", "Kaveri", "Lorcan", "Mireille", "Nikhil", "Oluwaseun", "Priya", "Quentin",
    "Rosalind", "Soren", "Talia", "Ulrich", "Valentina", "Wen", "Ximena", "Yusuf", "Zoë",
    "Anouk", "Bruno", "Catalina", "Dario", "Elif", "Femi", "Greta", "Haruto", "Ingrid",
    "Javier", "Keira", "Luca", "Mei", "Nadia", "Oskar", "Paloma", "Rafael", "Saanvi",
    "Tomasz", "Uma", "Vikram", "Wiebke", "Yara", "Zain", "Aisling", "Benedikt", "Camille",
    "Desmond", "Esther", "Flavio", "Gulnara", "Hamish", "Isabela", "Joaquín", "Kofi",
    "Leilani", "Matteo", "Noor", "Orla", "Pieter", "Rhea", "Santiago", "Thandiwe", "Viktor",
]  # fmt: skip

LAST_NAMES = [
    "Adeyemi", "Bergström", "Castellano", "Dubois", "Eriksen", "Fairbanks", "Garibaldi",
    "Hollis", "Iwasaki", "Jankowski", "Kapoor", "Lindqvist", "Mbeki", "Nakamura",
    "O'Rourke", "Petrov", "Quintero", "Ramaswamy", "Schneider", "Tanaka", "Umarov",
    "Van der Berg", "Whitcombe", "Xu", "Yilmaz", "Zielinski", "Achebe", "Brennan",
    "Chakraborty", "Delacroix", "Esposito", "Fonseca", "Grünwald", "Haddad", "Ibarra",
    "Jovanović", "Kowalczyk", "Lemaire", "Moreau", "Novak", "Okonkwo", "Pacheco",
    "Rautio", "Sandoval", "Thorne", "Underwood", "Varga", "Wainwright", "Yamamoto",
    "Zaragoza", "Albescu", "Bhattacharya", "Carvalho", "Dunmore", "Elsayed", "Fitzgerald",
    "Goldberg", "Holmgren", "Idowu", "Kaur", "Marchetti", "Nguyen", "Osei", "Reyes",
]  # fmt: skip

FOUNDER_TITLES = ["Founder", "Co-Founder & CEO", "Founder & CEO", "Co-Founder", "CEO"]
OTHER_TITLES = [
    "CTO",
    "VP Sales",
    "Head of Growth",
    "Marketing Manager",
    "Head of Engineering",
    "COO",
    "Director of Operations",
    "Head of Partnerships",
    "Sales Development Lead",
    "VP Marketing",
    "Head of Customer Success",
    "CFO",
]

SIZE_BANDS: list[tuple[int, int, str]] = [
    (1, 10, "1-10"),
    (11, 50, "11-50"),
    (51, 200, "51-200"),
    (201, 1000, "201-1000"),
    (1001, 5000, "1001-5000"),
]

SECOND_SENTENCES = [
    "Based in {city}, the team of {size} works with customers across {market}.",
    "Founded in {founded}, it serves {market} from its {city} office.",
    "The {city}-based company has been growing steadily since {founded}.",
    "Its {size}-person team focuses on {market}.",
]
MARKETS = ["Europe", "North America", "the UK", "APAC", "Latin America", "global markets"]


def ascii_slug(text: str, sep: str) -> str:
    """Lower-case ASCII slug of ``text``; runs of other characters become ``sep``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = folded.replace("'", "")
    return re.sub(r"[^a-z0-9]+", sep, folded.lower()).strip(sep)


def size_band(size: int) -> str:
    """Return the employee-count band that ``size`` falls into."""
    for low, high, label in SIZE_BANDS:
        if low <= size <= high:
            return label
    raise ValueError(f"size out of range: {size}")


def make_size(rng: random.Random) -> int:
    """Employee count, log-uniform between 2 and 5000."""
    return min(5000, max(2, round(math.exp(rng.uniform(math.log(2), math.log(5000))))))


def make_phone(rng: random.Random, country: str, prefix: str, used: set[str]) -> str:
    """Unused E.164 number from a range reserved for fiction in (or near) ``country``."""
    while True:
        number = _fictional_number(rng, country, prefix)
        if number not in used:
            used.add(number)
            return number


def _fictional_number(rng: random.Random, country: str, prefix: str) -> str:
    if country in ("US", "CA"):  # NANP 555-0100..0199
        return f"+1{prefix}{rng.randint(0, 99):02d}"
    if country == "DE":  # Bundesnetzagentur drama numbers, 3-digit extension
        return f"+49{prefix}{rng.randint(0, 999):03d}"
    if country == "FR":  # ARCEP numbers reserved for fiction
        return f"+33{prefix}{rng.randint(0, 9999):04d}"
    if country == "AU":  # ACMA fictional 5550 xxxx landlines
        return f"+61{prefix}{rng.randint(0, 9999):04d}"
    # UK, plus countries without a published fictional block: Ofcom 07700 900xxx.
    return f"+447700900{rng.randint(0, 999):03d}"


def make_contacts(
    rng: random.Random,
    industry: str,
    domain: str,
    country: str,
    phone_prefix: str,
    used_phones: set[str],
) -> list[dict[str, str]]:
    """One to three invented people at ``domain``."""
    count = rng.choice([1, 1, 2, 2, 2, 3])
    founder_odds = 0.9 if industry == "SaaS" else 0.35
    titles: list[str] = []
    if rng.random() < founder_odds:
        titles.append(rng.choice(FOUNDER_TITLES))
    others = list(OTHER_TITLES)
    rng.shuffle(others)
    titles.extend(others[: count - len(titles)])

    contacts: list[dict[str, str]] = []
    used: set[str] = set()
    for title in titles[:count]:
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{ascii_slug(first, '')}.{ascii_slug(last, '')}"
            if local not in used:
                used.add(local)
                break
        handle = f"{ascii_slug(first, '-')}-{ascii_slug(last, '-')}-{rng.randrange(16**4):04x}"
        contacts.append(
            {
                "name": f"{first} {last}",
                "title": title,
                "email": f"{local}@{domain}",
                "phone": make_phone(rng, country, phone_prefix, used_phones),
                "linkedin": f"https://linkedin.example/in/{handle}",
            }
        )
    return contacts


def make_description(
    rng: random.Random, industry: str, city: str, size: int, founded: int
) -> tuple[str, list[str]]:
    """Templated description plus matching keywords."""
    spec = INDUSTRIES[industry]
    lead = rng.choice(spec["leads"])
    audience, audience_kw = rng.choice(spec["audiences"])
    offering, offering_kw = rng.choice(spec["offerings"])
    text = f"{lead} that helps {audience} {offering}."
    if rng.random() < 0.55:
        second = rng.choice(SECOND_SENTENCES)
        text += " " + second.format(
            city=city, size=size, founded=founded, market=rng.choice(MARKETS)
        )

    keywords: list[str] = []
    for kw in [spec["extras"][0], audience_kw, offering_kw]:
        if kw not in keywords:
            keywords.append(kw)
    extras = [kw for kw in spec["extras"][1:] if kw not in keywords]
    if size <= 50 and "startup" not in keywords:
        extras.append("startup")
    rng.shuffle(extras)
    keywords.extend(extras[: rng.randint(0, 3)])
    return text, keywords[:6]


def make_technologies(rng: random.Random, industry: str) -> list[str]:
    """Two to six technologies, biased towards the industry's usual stack."""
    count = rng.randint(2, 6)
    chosen: list[str] = []
    preferred = list(INDUSTRIES[industry]["tech"])
    while len(chosen) < count:
        pool = preferred if rng.random() < 0.7 else ALL_TECH
        tech = rng.choice(pool)
        if tech not in chosen:
            chosen.append(tech)
    return sorted(chosen)


def make_core_names(rng: random.Random, count: int) -> list[str]:
    """Distinct compound brand words such as "Brightpath" or "Cedarforge"."""
    combos = [p + r for p in NAME_PREFIXES for r in NAME_ROOTS]
    rng.shuffle(combos)
    return combos[:count]


def make_company(
    rng: random.Random, brand: str, industry: str, used_phones: set[str]
) -> dict[str, Any]:
    """One invented company record."""
    country = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]
    city, region, phone_prefix = rng.choice(LOCATIONS[country])
    descriptor = rng.choice(INDUSTRIES[industry]["descriptors"])
    base_name = f"{brand} {descriptor}"
    domain = f"{ascii_slug(base_name, '-')}.example"
    name = base_name
    if rng.random() < 0.45:
        name = f"{base_name} {rng.choice(SUFFIXES[country])}"

    size = make_size(rng)
    if size <= 50:
        founded = rng.randint(2014, 2024)
    elif size <= 1000:
        founded = rng.randint(2000, 2021)
    else:
        founded = rng.randint(1978, 2016)
    description, keywords = make_description(rng, industry, city, size, founded)
    return {
        "name": name,
        "domain": domain,
        "industry": industry,
        "size": size,
        "size_band": size_band(size),
        "founded": founded,
        "location": {"city": city, "region": region, "country": country},
        "technologies": make_technologies(rng, industry),
        "description": description,
        "keywords": keywords,
        "contacts": make_contacts(rng, industry, domain, country, phone_prefix, used_phones),
    }


def name_variant(rng: random.Random, company: dict[str, Any], style: int) -> str:
    """A differently spelled name for the same company."""
    name: str = company["name"]
    country = company["location"]["country"]
    base = name
    for suffix in sorted(SUFFIXES[country], key=len, reverse=True):
        if name.endswith(" " + suffix):
            base = name[: -len(suffix) - 1]
            break
    if style == 0:
        return base.lower()
    if style == 1:
        return f"{base.upper()} {rng.choice(SUFFIXES[country]).upper()}"
    if style == 2:
        return f"{base}, {rng.choice(SUFFIXES[country])}"
    if style == 3:
        return base.replace(" ", "") if base != name else f"{base} {SUFFIXES[country][0]}"
    return f"The {base}"


def make_near_duplicate(rng: random.Random, original: dict[str, Any], style: int) -> dict[str, Any]:
    """Another record for the same company with drifted details."""
    dup = json.loads(json.dumps(original))
    dup["name"] = name_variant(rng, original, style % 5)
    if style % 2 == 1:
        dup["domain"] = "www." + original["domain"]
    dup["size"] = max(2, min(5000, round(original["size"] * rng.uniform(0.85, 1.2))))
    dup["size_band"] = size_band(dup["size"])
    rng.shuffle(dup["technologies"])
    dup["technologies"] = sorted(dup["technologies"][: max(2, len(dup["technologies"]) - 1)])
    contacts = dup["contacts"]
    if len(contacts) > 1 and rng.random() < 0.5:
        contacts.pop()
    if rng.random() < 0.5:
        contacts[0]["title"] = rng.choice(OTHER_TITLES + FOUNDER_TITLES)
    return dup


def build_dataset(seed: int = SEED) -> dict[str, Any]:
    """Build the full dataset deterministically from ``seed``."""
    rng = random.Random(seed)
    industries = [ind for ind, n in INDUSTRY_COUNTS.items() for _ in range(n)]
    rng.shuffle(industries)
    brands = make_core_names(rng, len(industries))
    used_phones: set[str] = set()
    companies = [
        make_company(rng, brand, industry, used_phones)
        for brand, industry in zip(brands, industries, strict=True)
    ]

    originals = rng.sample(companies, NEAR_DUPLICATES)
    for style, original in enumerate(originals):
        dup = make_near_duplicate(rng, original, style)
        # Insert away from the original so duplicates are not adjacent.
        companies.insert(rng.randrange(len(companies) + 1), dup)

    return {
        "version": 1,
        "description": (
            "Fictional B2B companies and contacts for trying hunter recipes. Every name, "
            "person, domain (.example) and phone number (fictional ranges) is invented."
        ),
        "companies": companies,
    }


def main() -> None:
    """Write the dataset to ``seeds/companies.json``."""
    data = build_dataset()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    OUTPUT.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {len(data['companies'])} companies to {OUTPUT}")


if __name__ == "__main__":
    main()
