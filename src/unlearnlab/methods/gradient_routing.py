"""Gradient routing (expand, route, ablate): a training-time method. Its model is trained
from the base corpus with the gradients of the forget documents routed into extra MLP
neurons, which are then cut off.

    expand:  every routed block's MLP gets ``width`` extra SwiGLU neurons whose output
             projection starts at zero (so they add exactly nothing until trained);
    route:   the loss on tokens of documents that mention a forgotten fact trains only
             the extra neurons, the loss on every other token everything but them
             (:mod:`unlearnlab.models.routing`);
    ablate:  the extra neurons are removed, leaving the base architecture.

Cloud et al., "Gradient Routing: Masking Gradients to Localize Computation in Neural
Networks" (2024), Sec. 4.2 (ERA: expand, route, ablate). The model starts from the same
initialisation, data order and training recipe as the base model, so with nothing to
forget it is the base model exactly. Departures: the paper routes by a list of forget
tokens and masks only some layers; here every token of a forget document is routed and
no other parameter learns from it, so the ablated model saw the forget documents only as
context; the paper's optional retain fine-tuning after ablation is left out. Its FLOPs
are the standard 6 per parameter (extra neurons included) per trained token; the second,
partial backward pass of steps with forget tokens is not counted.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedTokenizerBase

from unlearnlab.corpus.corpus import dropped_documents
from unlearnlab.errors import UserError
from unlearnlab.methods.base import Method
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.data import forget_facts
from unlearnlab.methods.registry import method
from unlearnlab.models.compute import flop_params, training_flops
from unlearnlab.models.data import documents_to_examples
from unlearnlab.models.factory import build_model, save_model
from unlearnlab.models.routing import Routing
from unlearnlab.models.store import ModelStore, cache_key
from unlearnlab.models.training import train
from unlearnlab.substrate.build import Substrate, substrate_tokenizer
from unlearnlab.worlds.kg import Fact

ROUTED = "routed_"
"""Name prefix of the extra neurons' projections (the routing region)."""


class GradientRoutingParams(BaseModel):
    """The routed neurons: how many, in which blocks."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(64, ge=1, le=65536)
    """Extra MLP neurons per routed block (paper: 64 in its expanded layers)."""
    layers: tuple[int, ...] | None = None
    """Routed blocks (0-based); default: every block."""


class RoutedMLP(torch.nn.Module):
    """A gated MLP plus ``width`` extra gated neurons whose output starts at exactly 0."""

    def __init__(self, mlp: torch.nn.Module, width: int, generator: torch.Generator) -> None:
        super().__init__()
        self.mlp = mlp
        weight = mlp.gate_proj.weight  # (intermediate, hidden)
        hidden = weight.shape[1]
        std = float(weight.detach().std())
        self.routed_gate = torch.nn.Linear(hidden, width, bias=False)
        self.routed_up = torch.nn.Linear(hidden, width, bias=False)
        self.routed_down = torch.nn.Linear(width, hidden, bias=False)
        with torch.no_grad():
            for linear in (self.routed_gate, self.routed_up):
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * std)
            self.routed_down.weight.zero_()
        self.to(weight.device, weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, hidden)`` the MLP's output plus the extra neurons'."""
        extra = self.routed_down(self.mlp.act_fn(self.routed_gate(x)) * self.routed_up(x))
        return self.mlp(x) + extra


def _blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    layers = getattr(getattr(model, "model", None), "layers", None)
    gated = all(isinstance(b.mlp, RoutedMLP) or hasattr(b.mlp, "gate_proj") for b in layers or ())
    if layers is None or not gated:
        raise UserError(
            "gradient_routing expands Llama-style gated MLPs (model.layers[i].mlp.gate_proj); "
            "use a Llama-architecture model"
        )
    return layers


def expand(model: torch.nn.Module, params: GradientRoutingParams, seed: int) -> None:
    """Give each routed block of ``model`` its extra neurons (in place)."""
    blocks = _blocks(model)
    chosen = range(len(blocks)) if params.layers is None else params.layers
    if any(i >= len(blocks) for i in chosen):
        raise UserError(
            f"gradient_routing: layers {list(chosen)} must lie below the model's "
            f"{len(blocks)} blocks"
        )
    generator = torch.Generator().manual_seed(seed)
    for i in chosen:
        blocks[i].mlp = RoutedMLP(blocks[i].mlp, params.width, generator)


def ablate(model: torch.nn.Module) -> None:
    """Remove every block's extra neurons (in place), leaving the original MLPs."""
    for block in _blocks(model):
        if isinstance(block.mlp, RoutedMLP):
            block.mlp = block.mlp.mlp


def routed_documents(substrate: Substrate, forget: tuple[Fact, ...]) -> list[bool]:
    """Per document of the base corpus: whether it mentions a fact of ``forget``."""
    dropped = set(dropped_documents(substrate.corpus, forget))
    return [d in dropped for d in substrate.corpus]


@method("gradient_routing")
class GradientRouting(Method):
    """Train on the base corpus with forget gradients routed to extra neurons, then cut them."""

    Params = GradientRoutingParams
    summary = "training-time: route forget-document gradients to extra MLP neurons, ablate them"
    paper = "Cloud et al. 2024, Gradient Routing: Masking Gradients to Localize Computation"
    kind = "training"

    def model_key(self, substrate: Substrate, config: UnlearnConfig) -> str:
        deep = None if config.deep_set == "minimum" else int(config.deep_set)
        return cache_key(
            role="gradient_routing",
            base=substrate.key("base"),
            params=self.params.model_dump(mode="json"),
            forget=[str(f) for f in forget_facts(substrate, config.forget_set, deep)],
        )

    def train_model(
        self, substrate: Substrate, config: UnlearnConfig, store: ModelStore, *, show_progress: bool
    ) -> Path:
        key = self.model_key(substrate, config)
        deep = None if config.deep_set == "minimum" else int(config.deep_set)
        forget = forget_facts(substrate, config.forget_set, deep)
        checkpoints = store.root / "checkpoints" / key

        def build(target: Path) -> None:
            with tempfile.TemporaryDirectory() as scratch:
                tokenizer = substrate_tokenizer(substrate, scratch)
                model, flops = self.routed_model(
                    substrate, forget, tokenizer, checkpoints, show_progress
                )
                sidecar = {
                    "role": "unlearned",
                    "method": self.name,
                    "cache_key": key,
                    "base_key": substrate.key("base"),
                    "experiment": substrate.config.name,
                    "params": self.params.model_dump(mode="json"),
                    "forget_facts": [str(f) for f in forget],
                    "flops": flops,
                }
                save_model(model, tokenizer, target, sidecar)

        world = str(substrate.world.metadata.get("name", substrate.config.name))
        meta = {"experiment": substrate.config.name, "method": self.name}
        path = store.put(key, build, role="unlearned", world=world, meta=meta)
        shutil.rmtree(checkpoints, ignore_errors=True)
        return path

    def routed_model(
        self,
        substrate: Substrate,
        forget: tuple[Fact, ...],
        tokenizer: PreTrainedTokenizerBase,
        checkpoints: Path | None,
        show_progress: bool,
    ) -> tuple[torch.nn.Module, float]:
        """The base recipe trained with routing, ablated; and its training FLOPs."""
        config = substrate.config
        model = build_model(config.model, tokenizer, seed=config.seed)
        expand(model, self.params, config.seed)
        texts = [d.text for d in substrate.corpus]
        routing = Routing(routed_documents(substrate, forget), lambda n: ROUTED in n)
        result = train(
            model,
            documents_to_examples(tokenizer, texts),
            config.train,
            pad_id=tokenizer.pad_token_id,
            checkpoint_dir=checkpoints,
            show_progress=show_progress,
            routing=routing,
        )
        tokens = result.steps * config.train.rows_per_step * config.train.seq_len
        flops = training_flops(flop_params(model), tokens)
        ablate(model)
        return model, flops
