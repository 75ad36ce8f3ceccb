"""How fast data_processing's dedupe is: exact keys and fuzzy company names on 10,000 items.

Run: python benchmarks/bench_dedupe.py [count]
"""

from __future__ import annotations

import random
import string
import sys
import time

from hunter_cli.components.actions.data_processing import dedupe_items

SUFFIXES = ["", " Inc", " Inc.", " LLC", " Ltd", " GmbH", " Corp", ""]
WORDS = [
    "acme",
    "global",
    "data",
    "cloud",
    "labs",
    "systems",
    "north",
    "blue",
    "river",
    "quantum",
    "peak",
    "nova",
    "apex",
    "bright",
    "core",
    "delta",
    "echo",
    "forge",
]


def make_items(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(count):
        # About a fifth are variants of an earlier company (case, www., suffix, a typo).
        base = rng.randrange(max(1, int(count * 0.8)))
        name_rng = random.Random(base)
        name = (
            " ".join(name_rng.sample(WORDS, 2))
            + " "
            + "".join(name_rng.choices(string.ascii_lowercase, k=5))
        )
        domain = name.replace(" ", "") + ".com"
        if rng.random() < 0.3:
            name = name.title()
        if rng.random() < 0.1:
            at = rng.randrange(len(name))
            name = name[:at] + rng.choice(string.ascii_lowercase) + name[at + 1 :]
        items.append(
            {
                "company": name + rng.choice(SUFFIXES),
                "domain": rng.choice(["", "www.", "https://www.", "http://"]) + domain,
                "email": f"contact{base}@{domain}".upper()
                if rng.random() < 0.2
                else f"contact{base}@{domain}",
                "n": i,
            }
        )
    return items


def bench(label: str, items: list[dict], **kwargs) -> None:
    started = time.perf_counter()
    result = dedupe_items(items, **kwargs)
    elapsed = time.perf_counter() - started
    print(
        f"{label:<34} {len(items):>7} items  {elapsed * 1000:8.1f} ms  "
        f"{len(items) / elapsed:>12,.0f} items/s  removed {result['removed']}"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    items = make_items(count)
    bench("exact: email", items, keys=["email"])
    bench("exact: domain + company", items, keys=["domain", "company"])
    bench("fuzzy: company >= 90", items, fuzzy={"field": "company", "threshold": 90})
    bench(
        "exact email + fuzzy company >= 85",
        items,
        keys=["email"],
        fuzzy={"field": "company", "threshold": 85},
    )


if __name__ == "__main__":
    main()
