"""The audit of checkpoints you bring (kind ``audit``, run by ``unlearnlab audit``): benchmark
items probed, and attacked identically, on your unlearned model, its base model and,
when you have one, an oracle never trained on the forget set.

Stages (cached in the output folder under a key that includes the size and modification
time of every model and benchmark file, so a changed checkpoint is measured again):

1. ``probe/<role>``: the item probes (:mod:`unlearnlab.probes.items`) on the forget and
   retain items;
2. ``attack/<attack>/<role>``: each attack of the suite (every grid point and seed), its
   curve measured by ``item.rank`` on the forget items.

Rows follow :mod:`unlearnlab.report.table` (role ``unlearned``, ``base``, ``oracle``);
the report's sections come from :mod:`unlearnlab.report.audit` and
:mod:`unlearnlab.report.durability`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from unlearnlab.attacks.items import ItemTarget
from unlearnlab.attacks.registry import get_attack
from unlearnlab.corpus.items import BenchItem
from unlearnlab.corpus.readers import read_benchmark
from unlearnlab.errors import UserError
from unlearnlab.experiments.kinds.base import ExperimentKind, experiment_kind
from unlearnlab.experiments.kinds.unlearn import attack_rows
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.experiments.study_settings import AttackSpec
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.items import check_template, item_rows, prompter, wrong_answers
from unlearnlab.report.audit import audit_headline, audit_section
from unlearnlab.report.durability import durability_section
from unlearnlab.report.section import Section
from unlearnlab.report.table import as_json, result_rows

Format = Literal["tofu", "wmdp", "muse", "rtt", "world"]
AUDIT_ROLES = ("unlearned", "base", "oracle")
"""The models an audit measures, in this order (the oracle when given)."""
_FOLDS = {"attack": "relearn", "label": "relearn_folds", "params": {"source": "forget_folds"}}
ATTACK_PRESETS: dict[str, list[dict[str, Any]]] = {
    "quick": [
        {**_FOLDS, "params": {**_FOLDS["params"], "steps": [0, 2, 8], "lr": 1e-4}},
        {"attack": "quantize", "params": {"bits": 4}},
    ],
    "full": [
        {
            **_FOLDS,
            "params": {**_FOLDS["params"], "steps": [0, 1, 2, 4, 8, 16, 32]},
            "grid": {"lr": [1e-5, 1e-4, 1e-3]},
        },
        {
            "attack": "relearn",
            "label": "relearn_retain",
            "params": {"source": "retain", "steps": [0, 1, 2, 4, 8, 16, 32]},
            "grid": {"lr": [1e-5, 1e-4, 1e-3]},
        },
        {"attack": "quantize", "grid": {"bits": [4, 8]}},
    ],
}
"""``--attacks quick`` and ``--attacks full``; ``full`` relearns on retain data only
when a retain file is given."""


class AuditSettings(BaseModel):
    """The models, the benchmark files, how questions are asked, and the attacks."""

    model_config = ConfigDict(extra="forbid")

    unlearned: Path
    """Your unlearned model's folder (a Hugging Face directory with safetensors)."""
    base: Path
    """The model it was unlearned from."""
    oracle: Path | None = None
    """A model never trained on the forget set; without it the verdicts that compare
    with the oracle (net recovery, matching the oracle) cannot be given."""
    forget: Path
    """The forget set's benchmark file or folder."""
    retain: Path | None = None
    """Retain items: probed for collateral damage, and relearning's ``retain`` source."""
    format: Format | None = None
    """The benchmark format (guessed from the files when None)."""
    prompt: str | None = None
    """A template with ``{question}``; None: each checkpoint's chat template when it has
    one, else ``Question: {question}\\nAnswer:``."""
    name: str | None = None
    """Your model's name in the report (default: its folder name)."""
    attacks: list[AttackSpec] = Field(default_factory=list)
    """The attack suite (``--attacks``; :data:`ATTACK_PRESETS`)."""
    attack_seeds: list[int] = Field(default_factory=lambda: [0])
    """Seeds of each attack (data order, folds)."""
    batch_size: int = Field(16, ge=1)
    """Sequences per forward pass when probing."""
    max_new_tokens: int = Field(32, ge=1)
    """Longest greedy answer generated (``item.generate``)."""
    seed: int = 0
    """Seeds the wrong answers drawn from other items."""

    @field_validator("unlearned", "base", "oracle")
    @classmethod
    def _model_folder(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
            raise ValueError(
                f"{path} is not a model folder (config.json and *.safetensors); give the "
                "folder save_pretrained wrote, or convert a GGUF file with "
                "'unlearnlab models import-gguf'"
            )
        return path.resolve()

    @field_validator("forget", "retain")
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.exists():
            raise ValueError(f"{path} does not exist; give a local benchmark file or folder")
        return None if path is None else path.resolve()

    @field_validator("prompt")
    @classmethod
    def _template(cls, prompt: str | None) -> str | None:
        return None if prompt is None else check_template(prompt)

    @model_validator(mode="after")
    def _attacks_run_on_items(self) -> AuditSettings:
        for spec in self.attacks:
            if not get_attack(spec.attack).on_items:
                known = ", ".join(sorted(n for n in _item_attacks()))
                raise ValueError(
                    f"attack {spec.attack!r} needs a world's facts and templates; on "
                    f"benchmark items these run: {known}"
                )
        return self

    def path(self, role: str) -> Path:
        """The folder of the model of ``role``."""
        path = {"unlearned": self.unlearned, "base": self.base, "oracle": self.oracle}[role]
        assert path is not None
        return path

    def roles(self) -> list[str]:
        """The roles of the models given."""
        return [r for r in AUDIT_ROLES if r != "oracle" or self.oracle is not None]

    def digest(self) -> str:
        """A short hash of the settings."""
        text = as_json(self.model_dump(mode="json"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _item_attacks() -> list[str]:
    from unlearnlab.attacks.registry import ATTACKS

    return [name for name, cls in ATTACKS.items() if cls.on_items]


def attack_specs(choice: str, has_retain: bool) -> list[AttackSpec]:
    """The attack suite ``--attacks`` names: ``quick``, ``full`` or attack names separated
    by commas (each with its defaults)."""
    if choice in ATTACK_PRESETS:
        specs = [AttackSpec(**spec) for spec in ATTACK_PRESETS[choice]]
        return [s for s in specs if has_retain or s.params.get("source") != "retain"]
    names = [n.strip() for n in choice.split(",") if n.strip()]
    return [AttackSpec(attack=get_attack(n).name) for n in names]


def items_of(settings: AuditSettings) -> tuple[list[BenchItem], list[BenchItem]]:
    """The forget items and the retain items."""
    forget = read_benchmark(settings.forget, settings.format, "forget").items
    if not forget:
        raise UserError(f"{settings.forget} holds no questions to audit; give a file with items")
    retain = (
        read_benchmark(settings.retain, settings.format, "retain").items
        if settings.retain is not None
        else ()
    )
    return list(forget), list(retain)


def _columns(settings: AuditSettings, role: str) -> dict[str, Any]:
    own = role == "unlearned"
    path = settings.path(role)
    return {
        "experiment": "audit",
        "variant": "{}",
        "role": role,
        "method": (settings.name or path.name) if own else None,
        "forget_set": "targets" if own else None,
        "params": "{}" if own else None,
        "passed_params": "{}" if own else None,
        "model": path.name,
        "seed": 0,
        "config_hash": settings.digest(),
    }


def probe_stage(settings: AuditSettings, role: str) -> list[dict[str, Any]]:
    """The item probes on the model of ``role``, forget and retain items."""
    forget, retain = items_of(settings)
    path = settings.path(role)
    model, tokenizer = load_model(path), load_tokenizer(path)
    rows = item_rows(
        model,
        prompter(tokenizer, settings.prompt),
        forget + retain,
        wrong_answers(forget + retain, settings.seed),
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.batch_size,
    )
    return result_rows([vars(r) for r in rows], **_columns(settings, role))


def attack_stage(settings: AuditSettings, role: str, spec: AttackSpec) -> list[dict[str, Any]]:
    """Every grid point and seed of attack ``spec`` on the model of ``role``."""
    forget, retain = items_of(settings)
    wrong = wrong_answers(forget + retain, settings.seed)
    targets = {
        seed: ItemTarget(
            tuple(forget),
            wrong,
            tuple(retain),
            settings.prompt,
            seed,
            settings.base,
            settings.batch_size,
        )
        for seed in settings.attack_seeds
    }
    path = settings.path(role)
    return attack_rows(path, targets, spec, _columns(settings, role))  # type: ignore[arg-type]


def fingerprint(path: Path) -> list[list[Any]]:
    """Name, size and modification time of every file under ``path`` (or of ``path``)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def audit_rows(settings: AuditSettings, ctx: RunContext) -> list[dict[str, Any]]:
    """Probe every model given, then attack each; every results row."""
    data = {str(p): fingerprint(p) for p in (settings.forget, settings.retain) if p is not None}
    depends = {r: {"model": fingerprint(settings.path(r)), "data": data} for r in settings.roles()}
    probes = [
        Stage(f"probe/{role}", probe_stage, (settings, role), depends[role])
        for role in settings.roles()
    ]
    attacks = [
        Stage(f"attack/{spec.name}/{role}", attack_stage, (settings, role, spec), depends[role])
        for spec in settings.attacks
        for role in settings.roles()
    ]
    rows: list[dict[str, Any]] = []
    for title, stages in (("probes", probes), ("attacks", attacks)):
        for stage_rows in ctx.run_stages(stages, title):
            rows += stage_rows
    return rows


@experiment_kind("audit")
class Audit(ExperimentKind):
    """Benchmark items probed and attacked on checkpoints you bring."""

    Settings = AuditSettings

    def run(self, config: Any, ctx: RunContext) -> list[dict[str, Any]]:
        """Probe every model given, then attack each (:func:`audit_rows`)."""
        return audit_rows(AuditSettings(**config.settings), ctx)

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """The probes beside the references with the audit's verdicts, then durability."""
        return [audit_section(rows, figures), durability_section(rows, figures)]

    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """Per model: the item probes on the forget and retain items."""
        return audit_headline(rows)
