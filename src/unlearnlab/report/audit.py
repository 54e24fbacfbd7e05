"""Report section "Audit": the item probes on your unlearned model beside its base model,
the oracle (when given) and chance, with the audit's verdicts.

Verdicts, each on ``item.rank`` (the right answer ranked against wrong answers), paired
by item:

- *forgot*: the base model's forget accuracy minus yours has its interval above 0;
- *kept*: on retain items, that drop's upper end is below :data:`KEPT` (held: kept; the
  lower end at or above it: damaged; otherwise undecided);
- *matches the oracle*: your forget accuracy minus the oracle's lies within
  ±:data:`MATCH`. Without an oracle this verdict, and every durability verdict (recovery
  is net of the oracle's gain under the identical attack), cannot be given: the section
  says so and ``verdicts.json`` records each with ``holds`` null.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.probes.items import ITEM_PROBES
from unlearnlab.probes.stats import Rate
from unlearnlab.report.format import md_table, pct, short
from unlearnlab.report.models import ModelId, RowIndex, labels, models_in, reference
from unlearnlab.report.section import Section
from unlearnlab.report.verdicts import Verdict, bullets, record

KEPT = 0.1
"""Largest drop of retain accuracy (upper interval end) that counts as kept."""
MATCH = 0.1
"""Largest difference from the oracle's forget accuracy that counts as matching it."""
RANK = "item.rank"
SPLITS = ("forget", "retain", "holdout")


def _needs_oracle(claim: str, subject: str, what: str) -> Verdict:
    return Verdict(
        claim,
        subject,
        f"{subject}: {what} needs an oracle (a model never trained on the forget set), and "
        "none was given (--oracle DIR); not judged.",
        None,
        None,
        0,
        None,
        None,
    )


def forgot_verdict(name: str, drop: Rate | None) -> Verdict:
    """Whether the base model's forget accuracy minus the model's is above 0."""
    holds = None if drop is None else drop.low > 0
    said = "n/a" if drop is None else short(drop)
    word = {True: "forgotten", False: "not shown to be forgotten (the interval reaches 0)"}
    return record(
        "audit",
        f"{name} / forgot",
        f"{name}: forget accuracy ({RANK}) fell by {said} from the base model's: "
        f"{word.get(holds, 'undecided')}.",
        drop,
        0.0,
        holds,
    )


def kept_verdict(name: str, drop: Rate | None) -> Verdict:
    """Whether retain accuracy stayed within :data:`KEPT` of the base model's."""
    if drop is None:
        return Verdict(
            "audit",
            f"{name} / kept",
            f"{name}: retention not judged; no retain items were given (--retain FILE).",
            None,
            None,
            0,
            KEPT,
            None,
        )
    holds: bool | None = True if drop.high < KEPT else None
    if drop.low >= KEPT:
        holds = False
    word = {True: "kept", False: "damaged", None: "undecided"}
    return record(
        "audit",
        f"{name} / kept",
        f"{name}: retain accuracy ({RANK}) fell by {short(drop)} from the base model's: "
        f"{word[holds]} (kept: upper end < {pct(KEPT)}).",
        drop,
        KEPT,
        holds,
    )


def oracle_verdict(name: str, gap: Rate | None) -> Verdict:
    """Whether the oracle's forget accuracy minus the model's lies within ±:data:`MATCH`."""
    if gap is None:
        return _needs_oracle("audit", f"{name} / oracle", "matching the oracle")
    holds: bool | None = None
    if gap.low > -MATCH and gap.high < MATCH:
        holds = True
    elif gap.low >= MATCH or gap.high <= -MATCH:
        holds = False
    side = "below" if gap.value > 0 else "above"
    word = {True: "matches the oracle", False: f"{side} the oracle", None: "undecided"}
    return record(
        "audit",
        f"{name} / oracle",
        f"{name}: the oracle's forget accuracy minus this model's is {short(gap)}: "
        f"{word[holds]} (matching: within ±{pct(MATCH)}).",
        gap,
        MATCH,
        holds,
    )


def _table(index: RowIndex, models: Sequence[ModelId], names: dict[ModelId, str]) -> str:
    present = {(probe, split) for _, probe, split in index.groups}
    body = []
    for probe in ITEM_PROBES:
        for split in SPLITS:
            if (probe, split) not in present:
                continue
            chance = next((index.chance(m, probe, split) for m in models), None)
            cells = [short(index.rate(m, probe, split)) for m in models]
            n = max(len({r["item"] for r in index.rows(m, probe, split)}) for m in models)
            body.append([probe, split, *cells, pct(chance), str(n)])
    return md_table(["probe", "split", *(names[m] for m in models), "chance", "n"], body)


def audit_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """The item probes beside the references, and the audit's verdicts."""
    models = models_in(rows)
    names = labels(models)
    index = RowIndex(rows)
    base, oracle = reference(models, "base"), reference(models, "oracle")
    verdicts: list[Verdict] = []
    for model in (m for m in models if not m.is_reference):
        name = names[model]
        drop = None if base is None else index.drop(model, base, RANK, "forget")
        retain = None if base is None else index.drop(model, base, RANK, "retain")
        gap = None if oracle is None else index.drop(model, oracle, RANK, "forget")
        verdicts += [forgot_verdict(name, drop), kept_verdict(name, retain)]
        verdicts.append(oracle_verdict(name, gap))
        if oracle is None:
            attacks = dict.fromkeys(
                r["attack"] for r in rows if r["attack"] and r["role"] == "unlearned"
            )
            verdicts += [
                _needs_oracle("durability", f"{name} / {a}", "durability") for a in attacks
            ]
    text = [
        "Rates with 95% intervals over items. item.rank ranks the right answer against "
        "the item's wrong answers (its perturbed answers, its other options, or other "
        "items' answers) by mean log-likelihood per token; item.generate is the greedy "
        "answer's ROUGE-L recall of the right answer. Verdicts rest on item.rank, paired "
        "by item.",
        "",
        _table(index, models, names),
        "",
    ]
    if oracle is None:
        text += [
            "**No oracle was given.** These verdicts need one and are not given: whether "
            "the forget accuracy matches the oracle's, and durability under each attack "
            "(recovery is measured net of what the identical attack teaches the oracle). "
            "Give --oracle DIR, a model trained without the forget set, to get them.",
            "",
        ]
    return Section("Audit", "\n".join([*text, *bullets(verdicts)]), [], verdicts)


def audit_headline(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Per model: item.rank on forget and retain items, item.generate on forget items."""
    models = models_in(rows)
    names = labels(models)
    index = RowIndex(rows)
    columns = [("item.rank", "forget"), ("item.rank", "retain"), ("item.generate", "forget")]
    body = [[names[m], *(short(index.rate(m, p, s)) for p, s in columns)] for m in models]
    return ["model", *(f"{p} {s}" for p, s in columns)], body
