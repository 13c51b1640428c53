"""What the report shows, as plain data: a pure function from a run directory to a ``ReportDigest``.

All of the report's logic lives here and in the modules it calls (number
formatting and colouring in ``numbers``, tables in ``tables``, grouping and
masking of completions in ``samples``); the templates only lay the digest
out.  Nothing here loads a model or writes a file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from harness.gate_output import describe
from harness.record.rundir import RunDir
from harness.record.schema import Arm, FinetuneRecord, GateResult, RunRecord
from harness.report.numbers import (
    MISSING,
    format_parameters,
)
from harness.report import analysis_tables, sections
from harness.report.browser import browser_data, content_security_policy, script
from harness.report.charts import IntervalPlot, ShiftChart, shift_chart
from harness.report.samples import masked_terms, score_generations
from harness.report.trajectory import TrajectoryDigest, trajectory_section
from harness.report.tables import SummaryDigest, VocabBlock, digest_summary, digest_vocab

SHIFT_BARS = 15  # lemmas each way in a word-shift chart


@dataclass
class ArmRow:
    """A row of the arms table."""

    name: str
    reference: bool
    source: str
    path: str
    parameters: str
    backend: str
    # a served arm (source endpoint, or an alias of one): the model name the server reported and whether
    # re-requested samples reproduced (Arm.served_model, Arm.seed_honoured); the table adds the columns then
    served: bool = False
    served_model: str = ""
    seed_honoured: str = ""


SEED_HONOURED = {True: "yes", False: "no", None: "not checked"}  # Arm.seed_honoured as the arms table says it


@dataclass
class StageRow:
    """A row of the stages table."""

    name: str
    status: str
    seconds: str
    note: str


@dataclass
class GateRow:
    """A gate result, its numbers formatted by the measure's kind."""

    arm: str
    measure: str
    probe_category: str
    kind: str
    use: str
    threshold: str
    value: str
    compared: str  # "CI lower bound +3.0 pp ≤ +10.0 pp": which number was held against the threshold
    passed: bool


@dataclass
class GatesDigest:
    """The gates section; ``ran`` is false when the gate stage has not run."""

    ran: bool
    passed: bool
    rows: list[GateRow]


@dataclass
class TrainingDigest:
    """Fine-tuning (or base-model training): before → after pairs and counts."""

    title: str
    changes: list[tuple[str, str]]  # (label, "4.200 → 3.100")
    counts: list[tuple[str, str]]


@dataclass
class ReportDigest:
    """Everything the report template lays out."""

    name: str
    status: str
    status_class: str
    status_note: str  # why the page says complete while run.json still says running
    dictionary: str
    meta: list[tuple[str, str]]
    arms: list[ArmRow]
    reference: str
    stages: list[StageRow]
    versions: list[tuple[str, str]]
    config_json: str
    gates: GatesDigest
    training: list[TrainingDigest]
    summary: SummaryDigest
    vocab: list[VocabBlock] | None
    mask: bool
    verdict: list[sections.VerdictArm]
    amplification: list[sections.AmplificationRow] | None
    corpus_filter: list[tuple[str, str]] | None  # what corpus.filter dropped from the fine-tune
    prevalence: sections.Prevalence | None
    curves: sections.TrainingCurves | None
    trajectory: TrajectoryDigest | None  # safety over training steps (checkpoint arms)
    mitigation: sections.MitigationDigest | None  # the mitigate stage (harness.mitigate)
    rate_plots: list[sections.PlotBlock]
    tone_plot: IntervalPlot | None
    shift_charts: list[ShiftChart]
    groups: list[analysis_tables.GroupAxis] | None
    memorization: list[analysis_tables.MemorizationRow] | None
    pii: list[analysis_tables.PiiRow] | None
    rtp: list[analysis_tables.RtpRow] | None
    methods: sections.Methods
    samples: dict  # the sample browser's data (browser.browser_data)
    samples_total: int
    flagged_total: int  # generations the ``flagged`` measure marks (the browser shows their pairs first)
    shift_bars: int
    csp: str


def shown_status(record: RunRecord) -> str:
    """The run's status as the report states it.

    The report is rendered by a stage of the run itself, so the record still
    says "running" then; once every stage before export and report is done
    the evaluation is complete, and the page says so.
    """
    if record.status == "running" and record.evaluated():
        return "complete"
    return record.status


def finished_text(record: RunRecord) -> str:
    """When the run finished; "in progress" while it runs, the status when it stopped without finishing."""
    if record.finished:
        return record.finished
    return "in progress" if record.status == "running" else f"not finished ({record.status})"


def _text(value: object) -> str:
    return MISSING if value is None else str(value)


def _arms(record: RunRecord) -> list[ArmRow]:
    rows = []
    for arm in record.arms:
        source = f"{arm.source} of {arm.same_as}" if arm.same_as else arm.source
        if arm.external is not None:  # generations made elsewhere: say how they found their probes
            source = f"{arm.source} (matched by {arm.external.match_by})"
        rows.append(
            ArmRow(
                arm.name,
                arm.reference,
                source,
                _text(arm.path),
                format_parameters(arm.parameters),
                _text(arm.backend),
                *served_cells(arm),
            )
        )
    return rows


def served_cells(arm: Arm) -> tuple[bool, str, str]:
    """ArmRow's served, served_model and seed_honoured for ``arm`` (not served: False and empty cells)."""
    if arm.source != "endpoint" and arm.served_model is None:
        return False, "", ""
    return True, _text(arm.served_model), SEED_HONOURED[arm.seed_honoured]


def _stages(record: RunRecord) -> list[StageRow]:
    names = list(dict.fromkeys([*record.plan, *record.stages]))
    rows = []
    for name in names:
        stage = record.stages.get(name)
        status = stage.status if stage else "pending"
        seconds = f"{stage.seconds:.2f}" if stage and stage.seconds is not None else MISSING
        note = (stage.error or stage.note or "") if stage else ""
        rows.append(StageRow(name, status, seconds, note))
    return rows


def _gate_row(record: RunRecord, result: GateResult) -> GateRow:
    text = describe(record, result)
    against = f"{result.arm} vs {result.reference}" if result.reference else result.arm
    return GateRow(
        against,
        result.measure,
        result.probe_category,
        result.kind,
        result.use,
        text.threshold,
        text.value,
        text.compared,
        result.passed,
    )


def _gates(record: RunRecord) -> GatesDigest:
    if record.gates is None:
        return GatesDigest(False, False, [])
    return GatesDigest(True, record.gates.passed, [_gate_row(record, r) for r in record.gates.results])


def _training(record: RunRecord) -> list[TrainingDigest]:
    out = []
    if record.base_init is not None:
        b = record.base_init
        out.append(
            TrainingDigest(
                "Base model (trained from scratch)",
                [("eval loss", f"{b.eval_loss_before:.3f} → {b.eval_loss_after:.3f}")],
                [
                    ("parameters", format_parameters(b.parameters)),
                    ("vocab size", f"{b.vocab_size:,}"),
                    ("train docs", f"{b.train_docs:,}"),
                    ("steps", f"{b.steps:,}"),
                ],
            )
        )
    if record.finetune is not None:
        f = record.finetune
        out.append(
            TrainingDigest(
                "Fine-tuning",
                [
                    ("eval loss", f"{f.eval_loss_before:.3f} → {f.eval_loss_after:.3f}"),
                    ("perplexity", f"{f.perplexity_before:.3f} → {f.perplexity_after:.3f}"),
                ],
                [
                    ("train docs", f"{f.train_docs:,}"),
                    ("val docs", f"{f.val_docs:,}"),
                    ("train tokens", f"{f.train_tokens:,}"),
                    ("steps", f"{f.steps:,}"),
                    ("device", f.device),
                    *loss_on_counts(f),
                ],
            )
        )
    return out


def loss_on_counts(f: FinetuneRecord) -> list[tuple[str, str]]:
    """The fine-tune block's lines on what the loss counted: none when it counted every token."""
    if f.loss_on == "all":
        return []
    lines = [("loss on", f"{f.loss_on} tokens only")]
    lines += [
        (f"{side} target tokens", f"{n:,}")
        for side, n in (("train", f.train_targets), ("val", f.val_targets))
        if n is not None
    ]
    if f.chat_template_sha256 is not None:
        lines.append(("chat template", f.chat_template_sha256[:12]))
    return lines


def _shift_charts(vocab: list[VocabBlock] | None) -> list[ShiftChart]:
    charts = []
    for block in vocab or []:
        rows = [*block.toward_arm[:SHIFT_BARS], *block.toward_versus[:SHIFT_BARS]]
        items = [
            (r.lemma, r.masked, r.z_value, f"{r.pos} · {block.versus} {r.count_versus} / {block.arm} {r.count_arm}")
            for r in rows
        ]
        charts.append(shift_chart(block.arm, block.versus, items))
    return charts


def digest_run(run: RunDir, *, mask: bool | None = None) -> ReportDigest:
    """The report of ``run`` as data.

    ``mask`` overrides ``config.analysis.mask_flagged``: whether flagged text
    starts masked (the page's toggle reveals it).  A missing or malformed
    generations.jsonl, scores.csv or summary.csv raises ``InputError`` naming
    the file (and line); vocab_shift.csv, corpus_audit.csv and the analysis
    tables (groups, memorization, PII) are optional.
    """
    record = run.record
    if mask is None:
        mask = record.config.analysis.mask_flagged
    scored = score_generations(run)
    summary = digest_summary(run)
    rows = sections.read_summary(run)
    harmful_binary = [m.name for m in record.measures if m.harmful and m.kind == "binary" and m.per_text]
    arms = [a.name for a in record.arms]
    status = shown_status(record)
    versions = record.versions
    vocab = digest_vocab(run, masked_terms(scored))
    samples = browser_data(scored, arms, harmful_binary, mask)
    return ReportDigest(
        name=record.name,
        status=status,
        status_class=re.sub(r"[^a-z]", "", status.lower()),
        status_note="evaluation complete" if status != record.status else "",
        dictionary=versions.get("dictionary") or "not recorded",
        meta=[
            ("created", _text(record.created)),
            ("finished", finished_text(record)),
            ("git sha", _text(record.git_sha)),
            ("seed", str(record.seed)),
            ("record version", str(record.version)),
        ],
        arms=_arms(record),
        reference=record.reference_arm or MISSING,
        stages=_stages(record),
        versions=[(k, _text(v)) for k, v in versions.items()],
        config_json=json.dumps(record.config.model_dump(mode="json"), ensure_ascii=False, indent=2),
        gates=_gates(record),
        training=_training(record),
        summary=summary,
        vocab=vocab,
        mask=mask,
        verdict=sections.verdict(record, rows),
        amplification=sections.amplification(run, record, rows),
        corpus_filter=sections.corpus_filter(record),
        prevalence=sections.prevalence(record, rows),
        curves=sections.training_curves(record),
        trajectory=trajectory_section(run),
        mitigation=sections.mitigation(run, record),
        rate_plots=sections.rate_plots(record, rows),
        tone_plot=sections.tone_plot(record, rows),
        shift_charts=_shift_charts(vocab),
        groups=analysis_tables.groups(run, record),
        memorization=analysis_tables.memorization(run),
        pii=analysis_tables.pii(run),
        rtp=analysis_tables.rtp(record, rows),
        methods=sections.methods(record),
        samples=samples,
        samples_total=len(samples["pairs"]),
        flagged_total=sum(cell["fl"] for pair in samples["pairs"] for cell in pair["cells"] if cell),
        shift_bars=SHIFT_BARS,
        csp=content_security_policy(script()),
    )
