"""The ids of the variants that are not perturbations: the clean data and its repeats.

Kept apart from ``engine.plan`` (which imports the adapters and the config) so that the store,
which keeps a case's clean maps as the bases of its variants' maps, can name them cheaply.
"""

from __future__ import annotations

#: The id of the unperturbed variant.
CLEAN = "clean"
#: Repeat runs of the clean job (determinism check) are ``repeat-1``, ``repeat-2``, ...
REPEAT_PREFIX = "repeat-"
