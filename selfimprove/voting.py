"""How the k voting models of a round differ (paper B.2.4, Fig. 15): one place for the variants.

``rounds.voting`` names a variant; the round loop asks it questions (do the models label one shared
set of problems? one initialisation? one D0? is it one model labelling k times the problems?) and
never compares the name itself. Every variant keeps the models' batch orders apart.

>>> VARIANTS["shared_d0"].shared_d0, VARIANTS["shared_d0"].shared_init
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Voting:
    shared_labels: bool = False  # one set of fresh problems, labelled and kept once for all models
    shared_init: bool = False  # one initialisation (and so one D0) for all models
    shared_d0: bool = False  # one D0 for all models, each its own initialisation
    one_model: bool = False  # a single model labels k times the problems instead of k models voting

    def models_trained(self, k: int) -> int:
        """Models trained, checkpointed and voting each round, for ``rounds.models = k``."""
        return 1 if self.one_model else k

    def problems_labelled(self, problems: int, k: int) -> int:
        """Fresh problems each labelling model answers, for ``rounds.problems`` and k."""
        return problems * k if self.one_model else problems


VARIANTS = {
    "independent": Voting(),  # each model its own initialisation, D0, problems and labels
    "shared_data": Voting(shared_labels=True),
    "shared_init": Voting(shared_init=True, shared_d0=True),
    "shared_d0": Voting(shared_d0=True),
    "more_data": Voting(one_model=True),
}
