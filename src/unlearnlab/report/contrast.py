"""Report section "Derivable against underivable targets": the critique's claim is a
contrast, so the forget set holds, beside the targets that other stated facts imply, as
many that nothing implies (``splits.underivable``), unlearned together by every method and
left out of the oracles' corpora alike. Per model, the knowledge left of each group, side
by side.

A target is *known* to a model when its direct recall gets it (for a refusal method: what
it answers, ``output.correct``) or its chain of thought concludes it (``rederive.cot``);
the knowledge of a group is the share of its targets known, pooled over seeds, with a 95%
interval over targets and seeds. In-context re-derivation is left out on both sides: an
underivable target has no premises to give.

Verdict per model (claim ``contrast``): the difference, derivable minus underivable, with
the conservative interval of two independent groups (low minus high, high minus low).
It *holds* (derivable targets stay more known) when the interval's lower end is above 0;
it fails (no contrast larger than :data:`NO_CONTRAST`) when its upper end lies below
:data:`NO_CONTRAST`; otherwise it is undecided, and says how wide its interval is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unlearnlab.probes.recall import CLOZE_TRAIN
from unlearnlab.probes.rederivation import COT
from unlearnlab.probes.registry import FORGET_UNDERIVABLE
from unlearnlab.probes.stats import Rate, bootstrap_mean
from unlearnlab.report.format import md_table, pct, short, with_n
from unlearnlab.report.models import ModelId, RowIndex, labels, models_in
from unlearnlab.report.section import Section
from unlearnlab.report.selection import SAID
from unlearnlab.report.verdicts import Verdict, bullets, record

DERIVABLE_SPLIT = "forget"
"""The split of the derivable targets (where underivable ones are drawn beside them)."""
NO_CONTRAST = 0.2
"""A difference whose interval lies below this many points (a fraction) shows no contrast."""


def knowledge_measures(model: ModelId, split: str) -> tuple[tuple[str, str], ...]:
    """(probe, split) of each way ``model`` can know a target of ``split``: direct recall
    (what a refusal method says) and chain-of-thought re-derivation."""
    direct = (SAID[0], split) if model.kind == "positive" else (CLOZE_TRAIN, split)
    return (direct, (COT, split))


def known(index: RowIndex, model: ModelId, split: str) -> Rate | None:
    """Share of the targets of ``split`` that ``model`` knows by any of
    :func:`knowledge_measures` (per target and seed, the largest), with its interval; None
    when the model has no such rows."""
    best: dict[tuple[str, Any], float] = {}
    for probe, measured in knowledge_measures(model, split):
        for row in index.rows(model, probe, measured):
            key = (row["item"], row["seed"])
            best[key] = max(best.get(key, 0.0), float(row["correct"]))
    if not best:
        return None
    keys = list(best)
    return bootstrap_mean([best[k] for k in keys], [k[0] for k in keys], [k[1] for k in keys])


def difference(derivable: Rate, underivable: Rate) -> Rate:
    """``derivable`` minus ``underivable``, with the conservative interval of two
    independent groups; its n is the smaller group's."""
    return Rate(
        derivable.value - underivable.value,
        derivable.low - underivable.high,
        derivable.high - underivable.low,
        min(derivable.n, underivable.n),
    )


def contrast_verdict(name: str, derivable: Rate, underivable: Rate) -> Verdict:
    """The verdict on one model (see the module docstring)."""
    gap = difference(derivable, underivable)
    numbers = (
        f"{name} knows {with_n(derivable)} of the derivable targets and "
        f"{with_n(underivable)} of the underivable ones: difference "
        f"{100 * gap.value:+.0f} points, conservative interval "
        f"[{100 * gap.low:+.0f}, {100 * gap.high:+.0f}]"
    )
    if gap.low > 0:
        holds, text = True, "; the derivable targets stay more known."
    elif gap.high < NO_CONTRAST:
        holds, text = False, f"; no contrast of {100 * NO_CONTRAST:.0f} points or more."
    else:
        holds, text = (
            None,
            (
                f"; undecided (half-width {100 * gap.half_width:.0f} points: the groups are too "
                "small to tell)."
            ),
        )
    return record("contrast", name, numbers + text, gap, 0.0, holds)


def contrast_section(rows: Sequence[dict[str, Any]]) -> Section | None:
    """The section over the models of ``rows`` (the references and the compared points);
    None when the run has no underivable targets."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    body, verdicts = [], []
    for model in models:
        derivable = known(index, model, DERIVABLE_SPLIT)
        underivable = known(index, model, FORGET_UNDERIVABLE)
        if derivable is None or underivable is None:
            continue
        chance = index.chance(model, CLOZE_TRAIN, FORGET_UNDERIVABLE)
        body.append([names[model], short(derivable), short(underivable), pct(chance, 1)])
        verdicts.append(contrast_verdict(names[model], derivable, underivable))
    if not verdicts:
        return None
    text = [
        "The forget set holds derivable targets (other stated facts imply them) and "
        "underivable ones (nothing implies them), unlearned together by every method and "
        "left out of the oracles' corpora alike. A target is known when direct recall (for "
        "a refusal method, what it answers) or its chain of thought gets it. Each verdict "
        "compares the two groups with a conservative interval (the groups are independent); "
        f"no contrast means the interval lies below {100 * NO_CONTRAST:.0f} points.",
        "",
        md_table(["model", "derivable known", "underivable known", "chance (underivable)"], body),
        "",
        *bullets(verdicts),
    ]
    return Section("Derivable against underivable targets", "\n".join(text), [], verdicts)
