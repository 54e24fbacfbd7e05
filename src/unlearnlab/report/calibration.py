"""Report section "Is the instrument calibrated?": checks, computed from the run's own
rows, that the probes and attacks measure what the other sections say they measure.

- **Ceilings**: a probe can show a loss only where the base model scores near its top:
  chain-of-thought re-derivation of held-out composites (facts the base model never saw
  but can derive) must reach :data:`CEILING`.
- **Null recoveries**: the base model attacked as if it were unlearned is "not
  forgotten" (no recovery can be claimed), and the oracle attacked as if it were
  unlearned nets exactly 0 points: the recovery arithmetic has no offset.
- **Attack damage**: an attack that lowers the references' recall of the targets by more
  than :data:`DAMAGE` points at any attacked point measures damage as much as recovery.

The interval code itself is calibrated by simulation in the test suite: the 95% interval
of a rate over 20 items covers the true rate in at least 93% of 1,000 simulated data sets
at rates 0.05, 0.5 and 0.95, and always at 0 and 1 (``tests/test_stats.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.attacks.recovery import summarize_seeds
from unlearnlab.probes.recall import CLOZE_TRAIN
from unlearnlab.probes.rederivation import COT
from unlearnlab.probes.stats import Rate, bootstrap_mean
from unlearnlab.report.format import md_table, pct, short, with_n
from unlearnlab.report.models import AttackRun, RowIndex, attack_runs, models_in, reference
from unlearnlab.report.section import Section
from unlearnlab.report.verdicts import Verdict, bullets, record

CEILING = 0.9
"""Least base-model rate a probe needs to be able to show a loss."""
DAMAGE = 0.1
"""Most recall an attack may take from a reference model before it counts as damage."""
CEILING_PROBES = (
    (COT, "heldout_composite"),
    (CLOZE_TRAIN, "forget"),
)
"""(probe, split) pairs whose base-model rate must reach the ceiling."""


def ceiling_verdicts(rows: Sequence[dict[str, Any]]) -> list[Verdict]:
    """Per ceiling probe: whether the base model reaches :data:`CEILING`."""
    index, models = RowIndex(rows), models_in(rows)
    base = reference(models, "base")
    out = []
    for probe, split in CEILING_PROBES:
        rate = None if base is None else index.rate(base, probe, split)
        if rate is None:
            continue
        out.append(
            record(
                "calibration",
                f"{probe} ({split})",
                f"Ceiling of {probe} on {split}: the base model scores {with_n(rate)} "
                f"(needs ≥ {pct(CEILING)} to show a loss fully).",
                rate,
                CEILING,
                rate.value >= CEILING,
            )
        )
    return out


def drop(before: AttackRun, at: int) -> Rate:
    """Recall lost between the first point of ``before``'s curve and point ``at``, paired
    by record and clustered by fact."""
    first, later = before.curve[0].records, before.curve[at].records
    return bootstrap_mean(
        [float(a["correct"]) - float(b["correct"]) for a, b in zip(first, later, strict=True)],
        [a["fact"] for a in first],
    )


def null_verdicts(runs: Sequence[AttackRun]) -> list[Verdict]:
    """Per attack (its first setting): the base model attacked as if unlearned is not
    forgotten, and the oracle attacked as if unlearned nets 0 points."""
    out = []
    refs = {(r.model.role, r.attack, r.params, r.seed): r for r in runs if r.model.is_reference}
    for attack in dict.fromkeys(r.attack for r in runs):
        settings = [k[1:] for k in refs if k[0] == "base" and k[1] == attack]
        if not settings or ("oracle", *settings[0]) not in refs:
            continue
        base, oracle = refs[("base", *settings[0])], refs[("oracle", *settings[0])]
        as_base = summarize_seeds([base.curve], base.curve, oracle.curve, resamples=200)
        out.append(
            record(
                "calibration",
                f"{attack}: base as unlearned",
                f"{attack}: the base model attacked as if unlearned is "
                + (
                    "not forgotten (gap 0), as it must be."
                    if not as_base.forgotten
                    else "called forgotten: the recovery arithmetic is miscalibrated."
                ),
                as_base.gap,
                0.0,
                not as_base.forgotten,
                minimum=1,
            )
        )
        as_oracle = summarize_seeds([oracle.curve], base.curve, oracle.curve, resamples=200)
        nets = as_oracle.net_points
        out.append(
            record(
                "calibration",
                f"{attack}: oracle as unlearned",
                f"{attack}: the oracle attacked as if unlearned nets {nets.value * 100:+.0f} "
                "points of recall" + (", as it must." if nets.value == 0 else ": an offset."),
                nets,
                0.0,
                nets.value == 0,
                minimum=1,
            )
        )
    return out


def damage_verdicts(runs: Sequence[AttackRun]) -> list[Verdict]:
    """Per attack and reference model (base, oracle): the largest loss of recall over the
    attacked points of every setting the unlearned models were attacked with (of every
    setting when none was: a strength calibrated on the references leaves the others out),
    against :data:`DAMAGE`."""
    out = []
    for attack in dict.fromkeys(r.attack for r in runs):
        used = {r.params for r in runs if r.attack == attack and not r.model.is_reference}
        for role in ("base", "oracle"):
            mine = [
                r
                for r in runs
                if r.attack == attack and r.model.role == role and (not used or r.params in used)
            ]
            drops = [drop(r, i) for r in mine for i in range(1, len(r.curve))]
            if not drops:
                continue
            worst = max(drops, key=lambda d: d.value)
            ok = worst.value <= DAMAGE
            out.append(
                record(
                    "calibration",
                    f"{attack}: {role} damage",
                    f"{attack}: the {role} model loses at most {short(worst)} of its recall "
                    f"of the targets under the attack at the strength the methods met "
                    f"(n = {worst.n}; damage above "
                    f"{pct(DAMAGE)} mixes damage into recovery)"
                    + ("." if ok else ": the attack damages the references."),
                    worst,
                    DAMAGE,
                    ok,
                )
            )
    return out


def calibration_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Ceilings, null recoveries and attack damage, each a verdict."""
    del figures
    runs = attack_runs(rows)
    verdicts = ceiling_verdicts(rows) + null_verdicts(runs) + damage_verdicts(runs)
    body = [
        [
            v.subject,
            "n/a" if v.value is None else pct(v.value),
            "yes" if v.holds else ("undecided" if v.holds is None else "no"),
        ]
        for v in verdicts
    ]
    text = [
        "Checks that the instrument measures what the other sections claim: ceilings of the "
        "probes on the base model, recoveries that must be null, and damage that attacks do "
        "to the references. The interval code is checked by simulation in the test suite "
        "(coverage of the true rate at least 93% over 1,000 data sets of 20 items at rates "
        "0.05, 0.5 and 0.95; 100% at 0 and 1).",
        "",
        md_table(["check", "value", "passes"], body) if body else "No checks apply to this run.",
        "",
        *bullets(verdicts),
    ]
    return Section("Is the instrument calibrated?", "\n".join(text), [], verdicts)
