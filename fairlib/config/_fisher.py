"""Configuration of notebook 04 (Fisher-neutralised weighted SVD, Zhang & Zhou)."""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import bounded, validate_fields

__all__ = ["FisherSVDConfig", "FISHER_PROFILES"]


@dataclass(frozen=True)
class FisherSVDConfig:
    """Adult protocol of the paper and its image experiments.

    Parameters
    ----------
    n_runs : int
        Repetitions (the paper: 10), each with its own split of the new task and its own seed.
    hidden : int
        Hidden units of the two-layer MLP (20 reproduces the paper's 742 / 46 parameter counts).
    rank : int
        Rank kept by the (weighted) SVD.
    pretrain_epochs, finetune_epochs : int
    """

    n_runs: int = bounded(10, ge=1)
    hidden: int = bounded(20, ge=1)
    rank: int = bounded(2, ge=1)
    pretrain_epochs: int = bounded(20, ge=1)
    finetune_epochs: int = bounded(20, ge=1)

    def __post_init__(self) -> None:
        validate_fields(self)


FISHER_PROFILES = {
    "smoke": FisherSVDConfig(),
    "full": FisherSVDConfig(),
    "test": FisherSVDConfig(n_runs=2, pretrain_epochs=3, finetune_epochs=3),
}
