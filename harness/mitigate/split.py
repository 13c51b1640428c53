"""The mitigation split: which probes may train the mitigated arm, and which judge it.

One function decides, for every generation, whether it belongs to
``mitigation-train`` (its preference pairs may train the arm) or
``mitigation-eval`` (the held-out part every reported effect is measured on).
The side is a hash of (seed, probe set, probe id), the held-out rule of the
corpus split (``harness.data.split.heldout_score``), so it is the same for
every arm and every sample of a prompt, and does not move when other probes
are added.  A probe set with a single prompt (「ww」) cannot be split by
prompt: its *samples* are split by a hash of (seed, probe, sample index)
instead, and the record says which sets were split so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, NamedTuple, Sequence

from harness.data.split import heldout_score

TRAIN, EVAL = "mitigation-train", "mitigation-eval"


class Unit(NamedTuple):
    """What a generation's side depends on: its prompt, and its sample index when its set is split by sample."""

    probe_set: str
    probe_id: str
    sample_index: int | None = None

    @classmethod
    def of(cls, probe_set: str, probe_id: str, sample_index: int, by_sample: Sequence[str]) -> "Unit":
        """The unit of a generation when the sets in ``by_sample`` are split by sample index."""
        return cls(probe_set, probe_id, sample_index if probe_set in by_sample else None)

    def label(self) -> str:
        """``set/id`` for a prompt, ``set/id#i`` for a sample."""
        base = f"{self.probe_set}/{self.probe_id}"
        return base if self.sample_index is None else f"{base}#{self.sample_index}"


class MitigationSplit:
    """The split of one run's probes (see the module docstring)."""

    def __init__(self, prompts: Iterable[tuple[str, str]], seed: int, eval_fraction: float) -> None:
        by_set: dict[str, set[str]] = defaultdict(set)
        for probe_set, probe_id in prompts:
            by_set[probe_set].add(probe_id)
        self.seed = seed
        self.eval_fraction = eval_fraction
        # a set with one prompt is split by sample index (else its one prompt lands wholly on one side)
        self.by_sample = sorted(name for name, ids in by_set.items() if len(ids) == 1)

    def unit(self, probe_set: str, probe_id: str, sample_index: int) -> Unit:
        """The unit a generation's side is decided on."""
        return Unit.of(probe_set, probe_id, sample_index, self.by_sample)

    def side(self, probe_set: str, probe_id: str, sample_index: int) -> str:
        """``mitigation-train`` or ``mitigation-eval`` for one generation (the same for every arm)."""
        unit = self.unit(probe_set, probe_id, sample_index)
        # \x1f (the ASCII unit separator) keeps ("a", "b/c") and ("a/b", "c") apart
        parts = [unit.probe_set, unit.probe_id]
        if unit.sample_index is not None:
            parts.append(str(unit.sample_index))
        key = "\x1f".join(parts)
        return EVAL if heldout_score(key, self.seed) < self.eval_fraction else TRAIN

    def is_eval(self, probe_set: str, probe_id: str, sample_index: int) -> bool:
        """True for a held-out generation."""
        return self.side(probe_set, probe_id, sample_index) == EVAL

    def units(self, keys: Iterable[tuple[str, str, int]]) -> dict[str, list[str]]:
        """The labels (``Unit.label``) on each side for the (probe set, probe id, sample index) ``keys``, sorted."""
        sides: dict[str, set[str]] = {TRAIN: set(), EVAL: set()}
        for probe_set, probe_id, index in keys:
            sides[self.side(probe_set, probe_id, index)].add(self.unit(probe_set, probe_id, index).label())
        return {side: sorted(labels) for side, labels in sides.items()}
