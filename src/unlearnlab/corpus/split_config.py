"""How a world's facts are split (``splits:`` of an experiment config): the number of
forget targets, holdout facts and held-out composites, or connectivity strata; the roles
themselves are drawn by :mod:`unlearnlab.corpus.splits`."""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DERIVABLE = "derivable"
"""Stratum of the forget targets that other stated facts imply, beside underivable ones."""
UNDERIVABLE = "underivable"
"""Stratum of the forget targets that no other fact implies (``SplitConfig.underivable``)."""


class Stratum(BaseModel):
    """Forget targets with a number of derivations from other facts in a range."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="label of the stratum (results' stratum)")
    min_derivations: int = Field(0, ge=0, description="fewest derivations from other facts")
    max_derivations: int | None = Field(
        None, ge=0, description="most derivations from other facts; null: no upper bound"
    )
    targets: int = Field(10, ge=1, description="forget targets drawn in this stratum")
    relations: tuple[str, ...] | None = Field(
        None, description="relations the targets are drawn from; default: every relation"
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in (DERIVABLE, UNDERIVABLE):
            raise ValueError(
                f"stratum name {name!r} is reserved for splits.underivable's two groups; "
                "choose another name"
            )
        return name

    @model_validator(mode="after")
    def _range(self) -> Stratum:
        if self.max_derivations is not None and self.max_derivations < self.min_derivations:
            raise ValueError(
                f"stratum {self.name}: max_derivations {self.max_derivations} is below "
                f"min_derivations {self.min_derivations}"
            )
        return self

    def holds(self, derivations: int, complete: bool) -> bool:
        """Whether a count (exact when ``complete``, else a lower bound) is in range."""
        if derivations < self.min_derivations:
            return False
        if self.max_derivations is None:
            return True
        return complete and derivations <= self.max_derivations

    @property
    def enough(self) -> int:
        """Derivations worth counting to decide membership (more change nothing)."""
        if self.max_derivations is None:
            return self.min_derivations
        return self.max_derivations + 1


class SplitConfig(BaseModel):
    """How many forget targets and held-out composites to draw, and from which relations."""

    model_config = ConfigDict(extra="forbid")

    forget: int = Field(20, ge=1, description="number of forget targets (without strata)")
    holdout: int = Field(
        0,
        ge=0,
        description="stated facts drawn like the forget targets that no model trains on "
        "(non-members for membership inference; without strata)",
    )
    underivable: int = Field(
        0,
        ge=0,
        description="forget targets that no other fact implies, drawn beside the derivable "
        "ones as their contrast (stratum 'underivable'; without strata)",
    )
    heldout: int = Field(100, ge=0, description="number of held-out composites")
    retain_heldout: int = Field(
        30,
        ge=0,
        description="retain facts kept out of every unlearning retain loss (at most half "
        "of the retain facts), to measure retention held out",
    )
    target_relations: tuple[str, ...] | None = Field(
        None,
        description="relations targets and held-out composites are drawn from; default: "
        "every relation with both stated and unstated derived facts",
    )
    strata: tuple[Stratum, ...] = Field(
        (),
        description="draw forget targets per connectivity stratum instead (disjoint "
        "ranges; leave out forget; target_relations then applies to held-out only)",
    )
    seed: int = Field(0, description="seed of the draws")

    @model_validator(mode="after")
    def _strata(self) -> SplitConfig:
        if not self.strata:
            return self
        for name in ("holdout", "underivable"):
            if getattr(self, name):
                raise ValueError(
                    f"{name} is drawn beside the forget targets without strata; leave out "
                    f"{name} or strata"
                )
        if "forget" in self.model_fields_set:
            raise ValueError(
                "forget and strata are both set; with strata each stratum's targets give "
                "the forget set, so leave out forget"
            )
        names = [s.name for s in self.strata]
        if len(set(names)) != len(names):
            raise ValueError(f"stratum names repeat ({names}); give each a distinct name")
        ordered = sorted(self.strata, key=lambda s: s.min_derivations)
        for low, high in itertools.pairwise(ordered):
            if low.max_derivations is None or low.max_derivations >= high.min_derivations:
                raise ValueError(
                    f"strata {low.name} and {high.name} overlap; give them disjoint "
                    "derivation ranges"
                )
        return self
