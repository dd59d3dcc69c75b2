"""I/O layouts by name: how each package family names its inputs and outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from imagination.containers.layouts.brats import BratsLayout
from imagination.containers.layouts.custom import CustomLayout
from imagination.containers.layouts.grand_challenge import GrandChallengeLayout
from imagination.containers.layouts.imagination import ImaginationLayout
from imagination.containers.layouts.mhub import MhubLayout
from imagination.containers.layouts.named import NamedLayout
from imagination.containers.layouts.nnunet import NnunetLayout
from imagination.containers.layouts.predict_gbm import PredictGbmLayout
from imagination.errors import InputError

LAYOUTS: Final[dict[str, type[NamedLayout]]] = {
    cls.name: cls for cls in (BratsLayout, NnunetLayout, PredictGbmLayout, MhubLayout,
                              GrandChallengeLayout, ImaginationLayout, CustomLayout)
}


def make_layout(name: str, options: Mapping[str, Any] | None = None) -> NamedLayout:
    """The layout ``name`` configured with ``options`` (unknown names/options: exit 2)."""
    if name not in LAYOUTS:
        raise InputError(f"unknown layout {name!r}; layouts: {', '.join(LAYOUTS)}")
    return LAYOUTS[name](options)
