"""A third-party adapter as an entry point would provide it (used by the registry tests)."""

from __future__ import annotations

from imagination.adapters.protocol import ModelCard, Predictions


class ConstantIDH:
    name = "constant-idh"
    version = "0.1"
    tasks = ("idh",)
    required_modalities = ("t1c",)
    optional_modalities = ()
    card = ModelCard(intended_use="test plug-in", licence="MIT", deterministic=True)

    def __init__(self, p_mutant: float = 0.3) -> None:
        self.p_mutant = p_mutant

    def params(self):
        return {"p_mutant": self.p_mutant}

    def predict(self, case):
        return Predictions(case.case_id, {"idh": {"wildtype": 1 - self.p_mutant,
                                                  "mutant": self.p_mutant}})


def broken_factory():
    raise RuntimeError("weights not found")
