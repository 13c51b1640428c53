"""Detector quality on labelled posts, and the prevalence corrected for detector error (Rogan–Gladen).

A detector (the lexicon's ``flagged``; later a classifier and their
combination) misses some toxic texts and flags some harmless ones, so its
flagged rate p is not the share of texts that are toxic.  With the
detector's sensitivity Se and specificity Sp, measured on the blind ``test``
split of ``labels/open2ch-dev.csv``, the Rogan–Gladen estimator

    π = (p + Sp − 1) / (Se + Sp − 1),   clipped to [0, 1]

estimates the true prevalence (``rogan_gladen``).  It needs Se + Sp > 1 (a
detector better than chance); otherwise it refuses.

Where the figures come from: ``benchmarks/flagging_quality.py
--write-quality`` measures each detector and writes
``probes/lexicons/detector_quality.json`` (``DetectorQualityFile``): per
detector, the hashes of the files it reads, Se/Sp/precision/F1 with 95%
intervals, and the per-stratum 2×2 counts they come from.  The counts are
sufficient statistics: resampling posts with replacement within a stratum is
a multinomial draw of its four cells (``bootstrap_cells``), so a run redraws
Se and Sp from the file itself, and the corrected prevalence's interval
carries both the detector's uncertainty and the sampling uncertainty of p
(``corrected_estimate``).

A run uses an entry only when the files its own ``measure`` depends on
(``measure_inputs``) have exactly the entry's hashes: figures measured for
another lexicon do not describe this one.  A mismatch is not an error (a
user's own lexicon has no measured quality): the run records a note in
run.json ``calibration.notes``, logs it, and writes no corrected row.
``tests/test_prevalence.py`` fails when the committed file no longer
matches the committed lexicon.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from pydantic import ValidationError

from harness.config import AnalysisConfig
from harness.errors import InputError
from harness.io import read_json, sha256_file
from harness.record.schema import (
    Calibration,
    DetectorQuality,
    DetectorQualityFile,
    Estimate,
    FileHash,
    MeasureSpec,
    StratumCounts,
)
from harness.resources import detector_quality_file

CORRECTED_SUFFIX = "_corrected"
# the detector's bootstrap stream, apart from the prompts' stream (which uses the run seed itself)
QUALITY_STREAM = 16
_TAIL = 0.025


def rogan_gladen(p: float, se: float, sp: float) -> float:
    """(p + Sp − 1) / (Se + Sp − 1) clipped to [0, 1]; ``ValueError`` when Se + Sp ≤ 1 or an input is not in [0, 1]."""
    for name, x in (("p", p), ("Se", se), ("Sp", sp)):
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"Rogan–Gladen: {name} must be in [0, 1], got {x}")
    if se + sp <= 1.0:
        raise ValueError(f"Rogan–Gladen needs Se + Sp > 1 (a detector better than chance), got Se {se} + Sp {sp}")
    return min(1.0, max(0.0, (p + sp - 1.0) / (se + sp - 1.0)))


def rogan_gladen_draws(p: np.ndarray, se: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """``rogan_gladen`` over arrays; NaN where Se + Sp ≤ 1 (a draw in which the detector is no better than chance)."""
    denominator = np.asarray(se, dtype=np.float64) + sp - 1.0
    ok = denominator > 0
    raw = (np.asarray(p, dtype=np.float64) + sp - 1.0) / np.where(ok, denominator, 1.0)
    return np.clip(np.where(ok, raw, np.nan), 0.0, 1.0)


class JudgedPost(NamedTuple):
    """One labelled post as the quality measurement sees it."""

    stratum: str
    weight: float
    toxic: bool
    flagged: bool


def stratum_counts(items: Sequence[JudgedPost]) -> list[StratumCounts]:
    """Per-stratum 2×2 counts, strata in first-seen order; a stratum with two weights is a ``ValueError``."""
    out: dict[str, StratumCounts] = {}
    for item in items:
        cell = "tp" if item.toxic and item.flagged else "fn" if item.toxic else "fp" if item.flagged else "tn"
        blank = StratumCounts(stratum=item.stratum, weight=item.weight, tp=0, fp=0, fn=0, tn=0)
        counts = out.setdefault(item.stratum, blank)
        if not math.isclose(counts.weight, item.weight, rel_tol=1e-9):
            raise ValueError(f"stratum {item.stratum!r} has two weights ({counts.weight} and {item.weight})")
        setattr(counts, cell, getattr(counts, cell) + 1)
    return list(out.values())


def weighted_cells(strata: Sequence[StratumCounts]) -> np.ndarray:
    """Weighted [tp, fp, fn, tn]: each post counts for the N_h / n_h posts of the file it stands for."""
    return np.sum([s.weight * np.array([s.tp, s.fp, s.fn, s.tn], dtype=np.float64) for s in strata], axis=0)


def bootstrap_cells(strata: Sequence[StratumCounts], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, 4) weighted cells, posts resampled with replacement within each stratum (a multinomial draw)."""
    cells = [(s.weight, np.array([s.tp, s.fp, s.fn, s.tn], dtype=np.float64)) for s in strata]
    return bootstrap_counts(cells, n_boot, seed)


def bootstrap_counts(strata: Sequence[tuple[float, np.ndarray]], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, k) weighted counts: each stratum's (weight, k cell counts) redrawn as a multinomial of its posts.

    Resampling a stratum's posts with replacement draws its cells multinomially, so any cross-tabulation of
    the posts (four cells of one detector, eight of a detector pair judged on the same posts) bootstraps the
    same way.
    """
    rng = np.random.default_rng([seed, QUALITY_STREAM])
    total = np.zeros((n_boot, len(strata[0][1]) if strata else 4))  # no stratum: one detector's four zero cells
    for weight, counts in strata:
        if counts.sum() > 0:
            total += weight * rng.multinomial(int(counts.sum()), counts / counts.sum(), size=n_boot)
    return total


def prevalence_for_precision(precision, se, sp):
    """The prevalence π at which a detector with sensitivity ``se`` and specificity ``sp`` has ``precision``.

    Precision is Se·π / (Se·π + (1 − Sp)(1 − π)); solved for π:  P(1 − Sp) / (Se(1 − P) + P(1 − Sp)).
    Arrays broadcast; NaN where the denominator is 0 (a detector that flags nothing).
    """
    se, sp, precision = (np.asarray(x, dtype=np.float64) for x in (se, sp, precision))
    with np.errstate(divide="ignore", invalid="ignore"):
        return precision * (1 - sp) / (se * (1 - precision) + precision * (1 - sp))


def precision_at(prevalence, se, sp):
    """A detector's precision on a population whose prevalence is ``prevalence`` (arrays broadcast)."""
    prevalence, se, sp = (np.asarray(x, dtype=np.float64) for x in (prevalence, se, sp))
    with np.errstate(divide="ignore", invalid="ignore"):
        return se * prevalence / (se * prevalence + (1 - sp) * (1 - prevalence))


def detector_rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity (= recall), specificity, precision and F1 of weighted cells (last axis: tp, fp, fn, tn).

    NaN where a ratio is undefined (no toxic post, nothing flagged).
    """
    tp, fp, fn, tn = np.moveaxis(np.asarray(cells, dtype=np.float64), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "precision": tp / (tp + fp),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def _estimate(value: float, draws: np.ndarray) -> Estimate:
    finite = draws[np.isfinite(draws)]
    low, high = np.quantile(finite, [_TAIL, 1 - _TAIL]) if len(finite) else (math.nan, math.nan)
    cells = {"value": value, "ci_low": low, "ci_high": high}
    return Estimate(**{k: None if math.isnan(v) else round(float(v), 4) for k, v in cells.items()})


def measure_detector(
    detector: str,
    measure: str,
    inputs: Sequence[Path],
    items: Sequence[JudgedPost],
    n_boot: int = 2000,
    seed: int = 0,
    lexicon_version: int | str | None = None,
) -> DetectorQuality:
    """A detector's weighted Se, Sp, precision and F1 with stratified-bootstrap 95% intervals."""
    strata = stratum_counts(items)
    point = detector_rates(weighted_cells(strata))
    draws = detector_rates(bootstrap_cells(strata, n_boot, seed))
    return DetectorQuality(
        detector=detector,
        measure=measure,
        inputs=[FileHash(name=Path(p).name, sha256=sha256_file(p)) for p in inputs],
        lexicon_version=lexicon_version,
        n=len(items),
        positives=sum(i.toxic for i in items),
        strata=strata,
        **{name: _estimate(float(point[name]), draws[name]) for name in point},
    )


def read_quality_file(path: Path) -> DetectorQualityFile:
    """The quality file at ``path``; ``InputError`` naming the file when it is malformed."""
    try:
        return DetectorQualityFile.model_validate(read_json(path))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"detector quality: {where}: {first['msg']}", path) from None


def measure_inputs(config: AnalysisConfig) -> dict[str, list[Path]]:
    """Per measure with a measurable detector, the files its verdicts depend on.

    ``flagged`` is the lexicon's verdict: the lexicons and word lists.  (When
    the classifier detector joins ``flagged``, its model files join this list,
    and the matching entry is the ``combined`` detector's.)
    """
    return {"flagged": list(config.lexicon_files())}


def load_calibration(config: AnalysisConfig, path: Path | None = None) -> Calibration:
    """The quality entries that describe this configuration's detectors, with a note for each that none does."""
    path = detector_quality_file() if path is None else Path(path)
    if not path.is_file():
        return Calibration(notes=[f"no detector quality file ({path}): no corrected prevalence"])
    quality = read_quality_file(path)
    calibration = Calibration(source=str(path), sha256=sha256_file(path), labels_sha256=quality.labels_sha256)
    for measure, files in measure_inputs(config).items():
        digests = sorted(sha256_file(p) for p in files)
        entry = next(
            (d for d in quality.detectors if d.measure == measure and sorted(i.sha256 for i in d.inputs) == digests),
            None,
        )
        if entry is None:
            calibration.notes.append(
                f"'{measure}': no sensitivity/specificity measured for these files "
                f"({', '.join(Path(p).name for p in files)}: sha256 differs from {path.name}); "
                f"{measure}{CORRECTED_SUFFIX} not computed (benchmarks/flagging_quality.py --write-quality measures it)"
            )
        elif not _better_than_chance(entry):
            calibration.notes.append(f"'{measure}': detector {entry.detector} is no better than chance (Se + Sp ≤ 1)")
        else:
            calibration.detectors.append(entry)
    return calibration


def _better_than_chance(entry: DetectorQuality) -> bool:
    se, sp = entry.sensitivity.value, entry.specificity.value
    return se is not None and sp is not None and se + sp > 1


def corrected_specs(calibration: Calibration | None) -> list[MeasureSpec]:
    """Catalogue entries of the corrected prevalences (per arm and category, no scores.csv column)."""
    if calibration is None:
        return []
    return [
        MeasureSpec(
            name=f"{d.measure}{CORRECTED_SUFFIX}",
            analyser="prevalence",
            description=(
                f"'{d.measure}' rate corrected for the {d.detector} detector's error (Rogan–Gladen with "
                f"Se {d.sensitivity.value:.3f}, Sp {d.specificity.value:.3f} measured on the blind split of "
                "labelled forum posts); its 95% interval propagates the uncertainty of Se, Sp and the rate"
            ),
            harmful=True,
            kind="binary",
            per_text=False,
        )
        for d in calibration.detectors
    ]


class Corrected(NamedTuple):
    """A corrected prevalence and its 95% interval."""

    value: float
    low: float
    high: float


def quality_draws(entry: DetectorQuality, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws of (Se, Sp) from the entry's per-stratum counts."""
    rates = detector_rates(bootstrap_cells(entry.strata, n_boot, seed))
    return rates["sensitivity"], rates["specificity"]


def corrected_estimate(
    p: float, p_draws: np.ndarray, entry: DetectorQuality, seed: int, p_bounds: tuple[float, float] | None = None
) -> Corrected:
    """Rogan–Gladen of rate ``p`` with a percentile interval over joint draws of p, Se and Sp.

    ``p_draws`` are the rate's bootstrap draws (over prompts).  When they have
    collapsed to a point (no hit, or all hits), ``p_bounds`` (the rate's
    fallback interval) replaces them: the interval's low end takes p at its
    low bound, the high end p at its high bound, each with the Se/Sp draws.
    """
    se, sp = entry.sensitivity.value, entry.specificity.value
    value = rogan_gladen(p, se, sp)  # type: ignore[arg-type]  # load_calibration kept only entries with both
    se_draws, sp_draws = quality_draws(entry, len(p_draws), seed)
    if p_bounds is None:
        both = rogan_gladen_draws(p_draws, se_draws, sp_draws)
        low, high = np.nanquantile(both, [_TAIL, 1 - _TAIL])
    else:
        low = np.nanquantile(rogan_gladen_draws(np.full_like(se_draws, p_bounds[0]), se_draws, sp_draws), _TAIL)
        high = np.nanquantile(rogan_gladen_draws(np.full_like(se_draws, p_bounds[1]), se_draws, sp_draws), 1 - _TAIL)
    return Corrected(value, float(low), float(high))
