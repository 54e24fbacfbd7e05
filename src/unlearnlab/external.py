"""Where unlearnlab finds external data sets (such as EDU-RELAT) that it does not ship."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "UNLEARNLAB_EXTERNAL"
_CHECKOUT = Path(__file__).resolve().parents[2]


def external_roots() -> list[Path]:
    """Folders searched, in order: ``$UNLEARNLAB_EXTERNAL``, then ``../shared/external``
    beside the checkout, then ``/work/shared/external``."""
    roots = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    return [*roots, _CHECKOUT.parent / "shared" / "external", Path("/work/shared/external")]


def external_dataset(name: str) -> Path | None:
    """The folder of data set ``name`` (e.g. ``edu-relat``), or None if none is found."""
    for root in external_roots():
        if (root / name).is_dir():
            return root / name
    return None
