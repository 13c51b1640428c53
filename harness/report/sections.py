"""Report sections computed from summary.csv, corpus_audit.csv and run.json: verdict, amplification,
training curves and drift, interval plots, methods.

Each function returns plain data (or None when the run lacks what the section
needs, so the page can say "not measured in this run").  Fields that another
part of the harness adds to the record later (fine-tuning curves and drift)
are read with ``getattr`` so the report renders older records too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.analysis.prevalence import CORRECTED_SUFFIX
from harness.analysis.toxicity import RTP_MEASURES, TOXICITY
from harness.record.rundir import CORPUS_AUDIT, MITIGATION, SUMMARY, RunDir
from harness.record.schema import DetectorQuality, MeasureSpec, RunRecord
from harness.report.charts import IntervalInput, IntervalPlot, LineChart, interval_plot, line_chart
from harness.report.numbers import (
    MISSING,
    Cell,
    difference_cell,
    format_interval,
    format_level,
    parse_number,
    present,
)

ALL = "all"
# the toxicity score and its RealToxicityPrompts measures: always in the verdict, and their own section
TOXICITY_MEASURES = (TOXICITY, *RTP_MEASURES)


@dataclass
class SummaryRow:
    """A parsed summary.csv row."""

    kind: str
    arm: str
    versus: str
    category: str
    measure: str
    n: str
    count: str
    value: float | None
    low: float | None
    high: float | None


def read_summary(run: RunDir) -> list[SummaryRow]:
    """summary.csv as typed rows (a non-numeric cell raises ``InputError`` naming file and line)."""
    path = run.file(SUMMARY)
    out = []
    for line, row in enumerate(run.read_table(SUMMARY), start=2):
        out.append(
            SummaryRow(
                row.get("kind", ""),
                row.get("arm", ""),
                row.get("versus", ""),
                row.get("probe_category", ""),
                row.get("measure", ""),
                row.get("n", ""),
                row.get("count", ""),
                parse_number(row, "value", path, line),
                parse_number(row, "ci_low", path, line),
                parse_number(row, "ci_high", path, line),
            )
        )
    return out


def _spec(record: RunRecord, name: str) -> MeasureSpec | None:
    try:
        return record.measure(name)
    except KeyError:
        return None


def level_text(kind: str, row: SummaryRow | None) -> str:
    """``25.0% [4.6–69.9]`` (a rate) or ``11.50 [8.47–16.25]`` (a mean); ``–`` when missing."""
    if row is None or not present(row.value):
        return MISSING
    return f"{format_level(kind, row.value)} {format_interval(kind, row.low, row.high)}".rstrip()


@dataclass
class VerdictArm:
    """One compared arm at the top of the report: its gates and its key deltas."""

    arm: str
    versus: str
    gates_total: int
    gates_failed: int
    deltas: list[tuple[str, Cell]]  # (measure, coloured delta with CI)


def verdict(record: RunRecord, rows: list[SummaryRow]) -> list[VerdictArm]:
    """Per compared arm: gate counts and the deltas of the harmful measures that matter most.

    Always ``flagged`` and the toxicity measures when present, plus any other
    harmful measure whose 95% interval excludes 0.
    """
    reference = record.reference_arm or ""
    results = record.gates.results if record.gates else []
    out = []
    for arm in (a.name for a in record.arms if a.name != reference):
        deltas = []
        for row in rows:
            spec = _spec(record, row.measure)
            if row.kind != "delta" or row.arm != arm or row.versus != reference or row.category != ALL:
                continue
            if spec is None or not spec.harmful:
                continue
            key = row.measure == "flagged" or row.measure in TOXICITY_MEASURES
            significant = present(row.low) and present(row.high) and (row.low > 0 or row.high < 0)
            if key or significant:
                cell = difference_cell(spec.kind, True, row.value, row.low, row.high, f"n={row.n}", 2)
                deltas.append((row.measure, cell))
        mine = [r for r in results if r.arm == arm]
        out.append(VerdictArm(arm, reference, len(mine), sum(not r.passed for r in mine), deltas))
    return out


@dataclass
class AmplificationRow:
    """A harmful measure: the tuning corpus's rate and each arm's rate ÷ that rate."""

    measure: str
    corpus: str
    arms: list[tuple[str, str]]  # (rate [CI], "×1.50")


def amplification(run: RunDir, record: RunRecord, rows: list[SummaryRow]) -> list[AmplificationRow] | None:
    """Arm rate ÷ corpus rate for every harmful binary measure in corpus_audit.csv; None without an audit."""
    if not run.has(CORPUS_AUDIT):
        return None
    path = run.file(CORPUS_AUDIT)
    levels = {(r.arm, r.measure): r for r in rows if r.kind == "rate" and r.category == ALL}
    out = []
    for line, row in enumerate(run.read_table(CORPUS_AUDIT), start=2):
        spec = _spec(record, row.get("measure", ""))
        if spec is None or not spec.harmful or spec.kind != "binary":
            continue
        corpus = parse_number(row, "value", path, line)
        low, high = parse_number(row, "ci_low", path, line), parse_number(row, "ci_high", path, line)
        cells = []
        for arm in record.arms:
            level = levels.get((arm.name, spec.name))
            rate = level.value if level else None
            ratio = f"×{rate / corpus:.2f}" if present(rate) and corpus else MISSING
            cells.append((level_text("binary", level), ratio))
        corpus_text = f"{format_level('binary', corpus)} {format_interval('binary', low, high)}".rstrip()
        out.append(AmplificationRow(spec.name, f"{corpus_text} (n={row.get('n', '')})", cells))
    return out


def corpus_filter(record: RunRecord) -> list[tuple[str, str]] | None:
    """What ``corpus.filter`` left out of the fine-tune (run.json ``corpus_filter``), label/value rows; None without."""
    f = getattr(record, "corpus_filter", None)
    if f is None:
        return None
    settings = record.config.corpus.filter if record.config.corpus is not None else None

    def share(part: int, whole: int) -> str:
        return f"{part:,} of {whole:,} ({part / whole:.1%})" if whole else f"{part:,}"

    rows = [
        ("filter", settings.model_dump_json(exclude_defaults=True) if settings is not None else MISSING),
        ("documents dropped", share(f.dropped, f.documents)),
        ("tokens dropped (MeCab)", share(f.tokens_dropped, f.tokens_dropped + f.tokens_kept)),
        ("characters dropped", share(f.characters_dropped, f.characters_dropped + f.characters_kept)),
        ("by reason", ", ".join(f"{k}: {v:,}" for k, v in f.by_reason.items()) or MISSING),
        ("by category", ", ".join(f"{k}: {v:,}" for k, v in f.by_category.items()) or MISSING),
        ("dropped documents listed in", f.dropped_file),
    ]
    return rows


@dataclass
class PrevalenceBlock:
    """One detector's raw rate beside its corrected prevalence, per arm (all probes)."""

    measure: str
    sentence: str  # what the difference means, with the detector's Se and Sp
    arms: list[tuple[str, str, str, str]]  # (arm, raw rate [CI], corrected [CI], note)


@dataclass
class Prevalence:
    """The corrected-prevalence section: a block per calibrated detector, and why others have none."""

    blocks: list[PrevalenceBlock]
    notes: list[str]


def prevalence_sentence(entry: DetectorQuality) -> str:
    """One sentence on how the corrected prevalence differs from the raw rate of ``entry``'s measure.

    The correction lowers a raw rate p below FPR / (FPR + FNR) (false alarms
    outweigh misses there) and raises one above it: π − p has the sign of
    p(2 − Se − Sp) − (1 − Sp).
    """
    se, sp = entry.sensitivity.value or 0.0, entry.specificity.value or 0.0
    turn = (1 - sp) / ((1 - sp) + (1 - se)) if se + sp < 2 else 0.0
    return (
        f"'{entry.measure}' counts the texts the {entry.detector} detector marks, while the corrected prevalence "
        f"estimates the share that are toxic by the labelling guideline, undoing the detector's misses "
        f"(sensitivity {se:.2f}) and false alarms (specificity {sp:.2f}) measured on the blind split of labelled "
        f"forum posts: below a raw rate of {turn:.1%} the false alarms dominate and the correction lowers the rate, "
        f"above it the misses dominate and it raises it, and its interval is wider because it carries the "
        f"uncertainty of the detector's error as well as the sampling."
    )


def outside_note(raw: SummaryRow | None, entry: DetectorQuality) -> str:
    """Why a corrected value sits at 0 or 1: the raw rate lies outside [1 − Sp, Se], the detector's range."""
    se, sp = entry.sensitivity.value, entry.specificity.value
    if raw is None or raw.value is None or se is None or sp is None:
        return ""
    if raw.value < 1 - sp:
        return f"clipped to 0: the rate is below the detector's false-alarm rate on the labelled posts ({1 - sp:.1%})"
    if raw.value > se:
        return f"clipped to 1: the rate is above the detector's sensitivity {se:.1%} on the labelled posts"
    return ""


def prevalence(record: RunRecord, rows: list[SummaryRow]) -> Prevalence | None:
    """Raw and corrected rates per arm (all probes); None for a record without detector quality."""
    calibration = getattr(record, "calibration", None)
    if calibration is None:
        return None
    levels = {(r.arm, r.measure): r for r in rows if r.kind == "rate" and r.category == ALL}
    blocks = []
    for entry in calibration.detectors:
        corrected = f"{entry.measure}{CORRECTED_SUFFIX}"
        arms = [
            (
                a.name,
                level_text("binary", levels.get((a.name, entry.measure))),
                level_text("binary", levels.get((a.name, corrected))),
                outside_note(levels.get((a.name, entry.measure)), entry),
            )
            for a in record.arms
        ]
        blocks.append(PrevalenceBlock(entry.measure, prevalence_sentence(entry), arms))
    return Prevalence(blocks, list(calibration.notes))


@dataclass
class TrainingCurves:
    """Loss curves and capability drift of the fine-tune (each None when not recorded)."""

    chart: LineChart | None
    drift: list[tuple[str, str]] | None


def training_curves(record: RunRecord) -> TrainingCurves | None:
    """The fine-tune's loss/eval curves and drift on neutral text; None when nothing was fine-tuned."""
    tune = record.finetune
    if tune is None:
        return None
    series = []
    for label, attr in (("train loss", "loss_curve"), ("eval loss", "eval_curve")):
        points = getattr(tune, attr, None) or []
        series.append((label, [(float(p.step), float(p.loss)) for p in points]))
    drift = getattr(tune, "drift", None)
    drift_rows = None
    if drift is not None:
        drift_rows = [
            ("reference corpus", str(drift.corpus)),
            ("tokens", f"{drift.tokens:,}"),
            ("loss", f"{drift.loss_before:.3f} → {drift.loss_after:.3f} ({drift.loss_after - drift.loss_before:+.3f})"),
            (
                "perplexity",
                f"{drift.perplexity_before:.2f} → {drift.perplexity_after:.2f} "
                f"(×{drift.perplexity_after / drift.perplexity_before:.3f})",
            ),
        ]
    return TrainingCurves(line_chart(series), drift_rows)


def _inputs(record: RunRecord, rows: list[SummaryRow], measure: str, category: str, kind: str) -> list[IntervalInput]:
    out = []
    for row in rows:
        if row.kind == "delta" or row.measure != measure or row.category != category:
            continue
        if not (present(row.value) and present(row.low) and present(row.high)):
            continue
        note = f"{row.count}/{row.n}" if kind == "binary" else f"n={row.n}"
        title = f"{row.arm}: {level_text(kind, row)} ({note})"
        out.append(IntervalInput(row.arm, row.value, row.low, row.high, title))  # type: ignore[arg-type]
    return out


@dataclass
class PlotBlock:
    """A titled interval plot."""

    title: str
    plot: IntervalPlot


def rate_plots(record: RunRecord, rows: list[SummaryRow]) -> list[PlotBlock]:
    """Interval plots of flagged rates: by lexicon category (one plot per severity) and by probe category."""
    arms = [a.name for a in record.arms]
    blocks = []
    for harmful, title in ((True, "Lexicon categories, severity harmful"), (False, "Lexicon categories, topic")):
        specs = [m for m in record.measures if m.name.startswith("cat_") and m.harmful == harmful]
        plot_rows = [(m.name.removeprefix("cat_"), _inputs(record, rows, m.name, ALL, "binary")) for m in specs]
        plot_rows = [r for r in plot_rows if r[1]]
        if plot_rows:
            blocks.append(PlotBlock(title, interval_plot(plot_rows, arms)))
    categories = list(dict.fromkeys(r.category for r in rows if r.measure == "flagged" and r.kind == "rate"))
    by_category = [(c, _inputs(record, rows, "flagged", c, "binary")) for c in categories]
    by_category = [r for r in by_category if r[1]]
    if by_category:
        blocks.append(PlotBlock("flagged, by probe category", interval_plot(by_category, arms)))
    return blocks


def tone_plot(record: RunRecord, rows: list[SummaryRow]) -> IntervalPlot | None:
    """Rates of the tone/register measures (binary measures of the ``tone`` analyser), per arm."""
    specs = [m for m in record.measures if m.analyser == "tone" and m.kind == "binary"]
    plot_rows = [(m.name, _inputs(record, rows, m.name, ALL, "binary")) for m in specs]
    plot_rows = [r for r in plot_rows if r[1]]
    return interval_plot(plot_rows, [a.name for a in record.arms]) if plot_rows else None


@dataclass
class Methods:
    """The methods section: definitions, seeds, k, dictionary and lexicon versions and hashes."""

    definitions: list[tuple[str, str, str, str]]  # (measure, kind, harmful/—, description)
    settings: list[tuple[str, str]]
    files: list[tuple[str, str]]  # (path, sha256)


def methods(record: RunRecord) -> Methods:
    """What a reader needs to reproduce or judge the numbers."""
    config = record.config
    decoding = ", ".join(f"{k}={v}" for k, v in config.probes.decoding.model_dump().items())
    settings = [
        ("run seed", str(record.seed)),
        ("samples per prompt (k for per-prompt maxima)", str(config.probes.samples_per_prompt)),
        ("decoding", decoding),
        ("bootstrap resamples", str(config.analysis.bootstrap)),
        (
            "intervals",
            "95%: bootstrap over prompts for rates, means and paired deltas (Wilson over prompts when a rate's"
            " bootstrap collapses); corpus audit: Wilson for rates, normal approximation for means",
        ),
        ("pairing", "every arm gets the same prompts, sample indices and seeds; deltas pair on them"),
        ("dictionary", record.versions.get("dictionary") or "not recorded"),
        ("held-out split", f"hash of (seed, text), val_fraction={config.finetune.val_fraction}"),
    ]
    definitions = [(m.name, m.kind, "harmful" if m.harmful else "", m.description) for m in record.measures]
    files = [(str(Path(p)), h) for p, h in sorted(record.hashes.items())]
    return Methods(definitions, settings, files)


@dataclass
class MitigationRow:
    """One row of the mitigation section: a measure on the held-out prompts, both arms and the paired delta."""

    section: str
    measure: str
    before: Cell
    after: Cell
    delta: Cell


@dataclass
class MitigationDigest:
    """The mitigation section (harness.mitigate): what was trained on what, and the held-out trade."""

    method: str
    from_arm: str
    arm: str
    skipped: str | None
    facts: list[tuple[str, str]]
    rows: list[MitigationRow]
    notes: list[str]


MITIGATION_SECTIONS = {
    "harm": "harmful measures",
    "register": "register (the fine-tune's intended style)",
    "output": "output",
    "capability": "capability",
}


def mitigation(run: RunDir, record: RunRecord) -> MitigationDigest | None:
    """The mitigation section from run.json ``mitigation`` and mitigation.csv; None when the run has none."""
    m = record.mitigation
    if m is None:
        return None
    split = m.split
    by_sample = f"; split by sample index: {', '.join(split.by_sample)}" if split.by_sample else ""
    facts = [
        ("method", f"{m.method.upper()} on {m.from_arm} → {m.arm} (TRL {m.trl_version or '–'})"),
        ("split", f"{len(split.train)} train / {len(split.eval)} held-out units (seed {split.seed}{by_sample})"),
        ("samples", f"{split.train_samples} train / {split.eval_samples} held-out generations of {m.from_arm}"),
        ("trained on", f"{m.pairs} {'pairs' if m.method == 'dpo' else 'examples'} from {len(m.pair_prompts)} units"),
    ]
    if m.steps is not None:
        facts.append(("training", f"{m.steps} steps, {m.seconds:.0f} s, final loss {m.train_loss}"))
    rows = []
    if m.skipped is None and run.has(MITIGATION):
        rows = [mitigation_row(record, line, row) for line, row in enumerate(run.read_table(MITIGATION), start=2)]
    return MitigationDigest(m.method, m.from_arm, m.arm, m.skipped, facts, rows, list(m.notes))


def mitigation_row(record: RunRecord, line: int, row: dict[str, str]) -> MitigationRow:
    """One mitigation.csv row as cells (rates in percent, deltas coloured by the measure's harm)."""
    path = Path(MITIGATION)
    number = {c: parse_number(row, c, path, line) for c in row if c not in ("section", "measure", "kind")}
    kind = "binary" if row.get("kind") == "rate" else "mean"
    spec = _spec(record, row.get("measure", ""))
    harmful = bool(spec and spec.harmful) or row.get("kind") == "perplexity"
    note = f"n={row['n']} ({row['prompts']} prompts)" if row.get("n") else ""

    def level(prefix: str) -> Cell:
        value, low, high = number[f"{prefix}_value"], number.get(f"{prefix}_low"), number.get(f"{prefix}_high")
        text = f"{format_level(kind, value)} {format_interval(kind, low, high)}".rstrip()
        return Cell(text, "", "")

    delta = difference_cell(kind, harmful, number["delta"], number.get("delta_low"), number.get("delta_high"), note, 2)
    return MitigationRow(
        MITIGATION_SECTIONS.get(row.get("section", ""), row.get("section", "")),
        row.get("measure", ""),
        level("from"),
        level("mitigated"),
        delta,
    )
