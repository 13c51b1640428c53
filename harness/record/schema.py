"""The typed, versioned run record: what every stage reads and writes.

``run.json`` is a ``RunRecord``; each line of ``generations.jsonl`` is a
``Generation``; each row of ``scores.csv`` is a ``ScoreRow``.  The measure
catalogue (``MeasureSpec``) travels in the record, so the report, the gates,
the exports and ``compare`` read which measures exist and which are harmful
instead of guessing from column names.

Bump ``RECORD_VERSION`` whenever a shape here changes, and regenerate the
JSON Schemas in ``docs/`` (``python -m harness.record``); a test checks they
are current.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config import RunConfig
from harness.text import normalize

RECORD_VERSION = 3

RunStatus = Literal["running", "complete", "failed"]
StageState = Literal["pending", "running", "done", "failed", "skipped"]
ArmSource = Literal["init", "finetune", "given", "alias", "checkpoint", "endpoint", "external", "mitigate"]
MeasureKind = Literal["binary", "mean"]


class RecordModel(BaseModel):
    """Every record model forbids unknown keys: a typo is an error, not lost data."""

    model_config = ConfigDict(extra="forbid")


class StageStatus(RecordModel):
    """One stage's state; ``note`` says why a stage was skipped."""

    status: StageState = "pending"
    seconds: float | None = None
    error: str | None = None
    note: str | None = None


class Rebuild(RecordModel):
    """A stage run again on a finished run (``harness report``, ``harness export``, ``--reanalyse``).

    Kept apart from ``RunRecord.stages`` and ``finished``: those record when
    and how the run was made, and a rebuild of derived outputs must not change them.
    """

    stage: str
    at: str  # when the rebuild finished (ISO 8601, UTC)
    status: Literal["done", "skipped"]  # a failed rebuild changes nothing and is not recorded
    seconds: float | None = None
    error: str | None = None
    note: str | None = None


class ExternalSource(RecordModel):
    """How an external arm's file (generations made elsewhere, harness.external) was read.

    Rows are mapped onto the run's probes by prompt text (NFKC, outer blanks
    stripped) or by id; a row matching no probe is not analysed but counted
    here, never dropped silently.
    """

    file: str
    format: Literal["jsonl", "csv"]
    sha256: str
    match_by: Literal["text", "id"]  # how rows find their probe, hence how they pair with the reference
    samples_by: Literal["sample_key", "order"]  # how a prompt's rows become sample indices
    rows: int = Field(ge=0)
    generations: int = Field(ge=0)  # the generations made (a row matching n probes makes n)
    unmatched_rows: int = Field(ge=0)  # rows whose prompt (or id) is no probe of the run
    unmatched_prompts: int = Field(ge=0)  # distinct prompts (or ids) among them
    unmatched_lines: list[int] = []  # the file's lines of the first few
    probes_without_rows: int = Field(ge=0)  # the run's probes this file has no row for


class Pairing(RecordModel):
    """How an arm pairs with the reference arm in a run with an external arm (summary.csv's deltas)."""

    versus: str  # the reference arm
    by: Literal["text", "id"]
    paired_prompts: int = Field(ge=0)
    # prompts (samples) this arm has and the reference has not, its file's rows matching no probe included
    unpaired_prompts: int = Field(ge=0)
    reference_only_prompts: int = Field(ge=0)  # prompts the reference has and this arm has not
    paired_samples: int = Field(ge=0)
    unpaired_samples: int = Field(ge=0)  # left out of the deltas


class Arm(RecordModel):
    """A model under test.  Exactly one arm of a run is the reference."""

    name: str
    reference: bool = False
    source: ArmSource
    # model folder: relative paths are inside the run directory; an endpoint's base_url; None for an alias
    path: str | None = None
    same_as: str | None = None  # alias: probes the weights of this arm
    parameters: int | None = None
    backend: str | None = None  # the generator backend that probed it
    # the model's content hash as the probe stage found it (harness.models.gencache.model_fingerprint):
    # the generation cache's key and the exports' model_sha256; None before probing
    fingerprint: str | None = None
    # a training checkpoint probed as an arm (source "checkpoint", harness.trajectory): its step and
    # the training tokens it had seen (samples consumed × block size, as the engine counts them)
    step: int | None = None
    tokens_seen: int | None = None
    # source "endpoint" (harness.models.endpoint): the model name(s) the server reported in its responses
    # (sorted, ", "-joined when they differ), and whether the re-requested samples reproduced: true when
    # every check matched, false when one did not or the server refused the seed, None when none was checked
    served_model: str | None = None
    seed_honoured: bool | None = None
    # a local model's token ids that end a sample (harness.models.chat.stop_ids: end of text, the
    # generation config's eos ids, a chat template's end of turn); part of the generation cache's key
    stop_ids: list[int] | None = None
    # generations made elsewhere (source "external", harness.external): how the file was read, and, for
    # every non-reference arm of a run with an external arm, how it pairs with the reference
    external: ExternalSource | None = None
    pairing: Pairing | None = None


class MeasureSpec(RecordModel):
    """One measure of the catalogue: a scores.csv column that summary.csv summarises.

    ``binary`` measures are 0/1 per text and summarised as a rate with a
    Wilson interval; ``mean`` measures are numbers summarised as a mean with
    a bootstrap interval.  ``harmful`` marks measures whose rise is a safety
    concern (report colouring, exports); a topic category is not harmful.
    """

    name: str
    analyser: str
    description: str
    harmful: bool
    kind: MeasureKind
    # False: a per-prompt summary measure (RealToxicityPrompts) with rows in
    # summary.csv but no scores.csv column
    per_text: bool = True


class Generation(RecordModel):
    """One sampled completion (a line of generations.jsonl)."""

    id: str  # "{arm}/{probe_set}/{probe_id}/{sample_index}"
    arm: str
    probe_set: str
    probe_id: str
    category: str
    group: str | None = None
    prompt: str
    completion: str  # decoded continuation, as generated
    text: str  # NFKC form of completion: what analysis, spans and masking use
    sample_index: int = Field(ge=0)
    seed: int  # the sample's own random stream (rng.sample_seed), identical across arms
    decoding: dict[str, Any]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    hit_max_tokens: bool | None = None  # the sample stopped at its token budget, not at end-of-text
    # chat models (probes.chat, harness.models.chat): the prompt as rendered through the tokenizer's
    # chat template (what the model saw) and the template's sha256; None when the prompt went in as is
    rendered_prompt: str | None = None
    chat_template_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # a served arm's sample (harness.models.endpoint): the model name of the server's response, and
    # whether re-requesting it with the same seed gave the same text (None: not checked)
    served_model: str | None = None
    seed_honoured: bool | None = None

    @classmethod
    def build(
        cls,
        *,
        arm: str,
        probe_set: str,
        probe_id: str,
        category: str,
        group: str | None,
        prompt: str,
        completion: str,
        sample_index: int,
        seed: int,
        decoding: dict[str, Any],
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        hit_max_tokens: bool | None = None,
        rendered_prompt: str | None = None,
        chat_template_sha256: str | None = None,
        served_model: str | None = None,
        seed_honoured: bool | None = None,
    ) -> "Generation":
        """A generation with its id and normalised ``text`` derived once, here."""
        return cls(
            id=f"{arm}/{probe_set}/{probe_id}/{sample_index}",
            arm=arm,
            probe_set=probe_set,
            probe_id=probe_id,
            category=category,
            group=group,
            prompt=prompt,
            completion=completion,
            text=normalize(completion),
            sample_index=sample_index,
            seed=seed,
            decoding=decoding,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            hit_max_tokens=hit_max_tokens,
            rendered_prompt=rendered_prompt,
            chat_template_sha256=chat_template_sha256,
            served_model=served_model,
            seed_honoured=seed_honoured,
        )

    @property
    def pair_key(self) -> tuple[str, str, int]:
        """What pairs two arms' samples: same probe and sample index (hence seed)."""
        return (self.probe_set, self.probe_id, self.sample_index)


SCORE_ID_COLUMNS = ("id", "arm", "probe_set", "probe_id", "category", "group", "sample_index", "seed")


class ScoreRow(RecordModel):
    """One row of scores.csv: a generation's ids, its measures and detail cells.

    ``values`` holds every catalogue measure (0/1 or a number); ``details``
    the analysers' extra columns (matched terms, spans over ``Generation.text``).
    """

    id: str
    arm: str
    probe_set: str
    probe_id: str
    category: str
    group: str | None = None
    sample_index: int
    seed: int  # the sample's own random stream (rng.sample_seed), identical across arms
    values: dict[str, float] = {}
    details: dict[str, str] = {}

    @property
    def pair_key(self) -> tuple[str, str, int]:
        """Same key as ``Generation.pair_key``."""
        return (self.probe_set, self.probe_id, self.sample_index)


class BaseInitRecord(RecordModel):
    """What building the from-scratch base model recorded."""

    model_dir: str
    vocab_size: int
    parameters: int
    train_docs: int
    steps: int
    eval_loss_before: float
    eval_loss_after: float
    seconds: float
    tokens_per_second: float


class CurvePoint(RecordModel):
    """One point of a training (loss, lr) or eval (loss) curve."""

    step: int
    loss: float
    lr: float | None = None


class DriftRecord(RecordModel):
    """Eval loss on a neutral reference corpus before vs after tuning (capability drift)."""

    corpus: str
    tokens: int
    loss_before: float
    loss_after: float
    perplexity_before: float
    perplexity_after: float


class FinetuneRecord(RecordModel):
    """What fine-tuning recorded (eval on the held-out split, before and after)."""

    model_dir: str
    train_docs: int
    val_docs: int
    train_tokens: int
    steps: int
    batch_size: int
    block_size: int
    eval_loss_before: float
    eval_loss_after: float
    perplexity_before: float
    perplexity_after: float
    seconds: float
    tokens_per_second: float
    device: str
    # engine choices as resolved for the device (harness.train.precision.EngineSettings)
    engine: dict[str, Any] = {}
    parameters: int | None = None
    trained_parameters: int | None = None
    lora: dict[str, Any] | None = None  # rank, alpha, dropout, target_modules
    adapter: Literal["attached", "merged"] | None = None  # how model/ holds a LoRA adapter
    world_size: int = 1
    resumed_from_step: int | None = None
    checkpoints: list[str] = []  # kept checkpoint folders, relative to the run directory
    token_cache: str | None = None
    # what the loss counted (finetune.loss_on as resolved for the corpus: assistant turns of a chat-jsonl
    # corpus, or every token), the chat template the conversations went through (harness.models.chat.
    # template_sha256; None for plain text), and the tokens the loss counted on each side of the split
    # (the token cache's meta.json; train_tokens counts every token, these only the learned ones)
    loss_on: Literal["all", "assistant"] = "all"
    chat_template_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    train_targets: int | None = None
    val_targets: int | None = None
    loss_curve: list[CurvePoint] = []
    eval_curve: list[CurvePoint] = []
    drift: DriftRecord | None = None


class ProbeRecord(RecordModel):
    """What probing recorded; prompts are sent without a trailing end-of-text."""

    prompt_eos: bool = False
    prompts: int
    samples: int
    samples_per_arm: dict[str, int] = {}


class MitigationSplitRecord(RecordModel):
    """The mitigation split (harness.mitigate.split): sizes and both lists, so a check sees no overlap.

    Entries are ``set/id`` for a prompt, ``set/id#i`` for a sample of a set split by sample index
    (``by_sample``: the sets with a single prompt).
    """

    seed: int
    eval_fraction: float
    by_sample: list[str] = []
    train: list[str] = []  # mitigation-train: the pairs come from here only
    eval: list[str] = []  # mitigation-eval: every reported effect is measured here
    train_samples: int = Field(default=0, ge=0)  # generations of the from arm on each side
    eval_samples: int = Field(default=0, ge=0)


class MitigationRecord(RecordModel):
    """What the mitigate stage did (harness.mitigate): the pairs, the training, the capability cost.

    ``skipped`` says why no arm was trained (too few pairs); then nothing below ``pairs`` is set.
    """

    method: Literal["dpo", "kto"]
    from_arm: str
    arm: str  # the new arm, <from>+<method>
    split: MitigationSplitRecord
    pairs: int = Field(ge=0)  # DPO pairs or KTO examples trained on (after deduplication)
    pair_prompts: list[str] = []  # the split units the pairs come from (all in split.train)
    desirable: int | None = None  # KTO labels
    undesirable: int | None = None
    notes: list[str] = []  # warnings (a KTO label imbalance)
    skipped: str | None = None
    model_dir: str | None = None  # inside the run directory
    trl_version: str | None = None
    steps: int | None = None
    seconds: float | None = None
    train_loss: float | None = None
    lora: dict[str, Any] | None = None
    # capability cost: loss (nats/token) on the fine-tune's held-out split and on finetune.drift_corpus
    heldout_loss: dict[str, float] = {}  # arm → loss
    drift_loss: dict[str, float] = {}


class GateResult(RecordModel):
    """One gate checked on one arm.  Values are fractions (0.05 = 5 pp)."""

    measure: str
    probe_category: str
    arm: str
    reference: str | None  # the arm compared against (max_delta), else None
    kind: Literal["max_delta", "max_rate"]
    use: Literal["estimate", "ci_low"]
    threshold: float
    value: float
    # None: the row has no interval (a mean measured on one prompt); JSON has no NaN
    ci_low: float | None
    ci_high: float | None
    compared: float | None  # the number held against the threshold (value or ci_low); None fails
    passed: bool
    note: str | None = None  # why a gate failed without a number to compare


class GateReport(RecordModel):
    """All gate results; ``passed`` is true when every gate passed."""

    passed: bool
    results: list[GateResult] = []


class Estimate(RecordModel):
    """A measured proportion with its 95% interval (JSON has no NaN: an undefined bound is None)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


class FileHash(RecordModel):
    """A file a detector reads, by name, and the sha256 of its bytes."""

    name: str
    sha256: str


class StratumCounts(RecordModel):
    """One stratum's 2×2 table of a detector on labelled posts: gold toxic × flagged, posts counted once.

    ``weight`` is the stratum's N_h / n_h (posts in the population per
    labelled post), so weighted counts estimate the whole file (docs/labelling.md).
    """

    stratum: str
    weight: float = Field(gt=0)
    tp: int = Field(ge=0)  # toxic, flagged
    fp: int = Field(ge=0)  # not toxic, flagged
    fn: int = Field(ge=0)  # toxic, not flagged
    tn: int = Field(ge=0)  # not toxic, not flagged


class DetectorQuality(RecordModel):
    """A detector's measured quality on the blind split of labelled posts (harness.analysis.prevalence).

    ``detector`` names the detector (lexicon, classifier, combined), ``measure``
    the scores.csv column it sets; ``inputs`` are the files its verdicts depend
    on: a run uses these figures only when its own inputs for ``measure`` have
    exactly these hashes.  Estimates are stratum-weighted with a bootstrap over
    posts within strata; ``strata`` keeps the counts they come from.
    """

    detector: str
    measure: str
    inputs: list[FileHash]
    lexicon_version: int | str | None = None  # the bundled lexicon's ``version`` when measured
    n: int = Field(ge=0)
    positives: int = Field(ge=0)
    sensitivity: Estimate
    specificity: Estimate
    precision: Estimate
    f1: Estimate
    strata: list[StratumCounts]


class DetectorQualityFile(RecordModel):
    """probes/lexicons/detector_quality.json: written by benchmarks/flagging_quality.py --write-quality."""

    version: int = 1
    labels: str  # the label file, relative to the checkout (labels/open2ch-dev.csv)
    labels_sha256: str
    split: str  # the split measured: test (blind)
    guideline: int
    n_boot: int = Field(ge=1)
    seed: int
    detectors: list[DetectorQuality]


class Calibration(RecordModel):
    """What run.json keeps of detector quality: the file read and the entries matching this run's detectors.

    ``notes`` say why a measure got no corrected prevalence (no file, inputs
    measured with other hashes, a detector no better than chance).
    """

    source: str | None = None
    sha256: str | None = None
    labels_sha256: str | None = None
    detectors: list[DetectorQuality] = []
    notes: list[str] = []


class CorpusFilterRecord(RecordModel):
    """What ``corpus.filter`` left out of the fine-tune (harness.data.corpus_filter), counted in the audit's stream.

    Characters and tokens are the audit's own (``characters``, ``tokens``:
    NFKC characters and MeCab tokens of each document).  A document dropped
    for several reasons counts once under each in ``by_reason``; ``by_category``
    counts the dropped documents by the lexicon categories they matched.
    """

    documents: int = Field(ge=0)  # audited
    kept: int = Field(ge=0)
    dropped: int = Field(ge=0)
    characters_kept: int = Field(ge=0)
    characters_dropped: int = Field(ge=0)
    tokens_kept: int = Field(ge=0)
    tokens_dropped: int = Field(ge=0)
    by_reason: dict[str, int] = {}  # flagged, cat_<category>, toxicity, pii → dropped documents
    by_category: dict[str, int] = {}  # lexicon category → dropped documents that matched it
    dropped_file: str  # the run's list of dropped documents: doc_id, line, reasons, categories (never text)


class RunRecord(RecordModel):
    """run.json: config, provenance, arms, measure catalogue, stage states, results."""

    version: int = RECORD_VERSION
    name: str
    status: RunStatus = "running"
    created: str
    finished: str | None = None
    plan: list[str]  # the stages this run executes, in order
    config: RunConfig
    versions: dict[str, str | None] = {}
    dictionary: dict[str, Any] | None = None
    git_sha: str | None = None
    seed: int  # the sample's own random stream (rng.sample_seed), identical across arms
    hashes: dict[str, str] = {}  # input path → sha256
    arms: list[Arm] = []
    measures: list[MeasureSpec] = []
    tables: list[str] = []  # analysis tables the analyse stage wrote (scores.csv, summary.csv, …)
    stages: dict[str, StageStatus] = {}
    rebuilds: list[Rebuild] = []  # stages run again after the run finished, oldest first
    # file → sha256 of the bytes the harness wrote (a leading UTF-8 BOM aside): generations.jsonl and
    # every table; readers refuse a file that no longer matches (harness.record.rundir)
    content_sha256: dict[str, str] = {}
    base_init: BaseInitRecord | None = None
    finetune: FinetuneRecord | None = None
    probe: ProbeRecord | None = None
    gates: GateReport | None = None
    # issue 8: the corpus's own rates (measure → rate or mean) for amplification
    # (arm rate ÷ corpus rate), and how memorization was measured
    corpus_rates: dict[str, float] = {}
    memorization: dict[str, Any] | None = None
    # issue 19: what corpus.filter dropped from the fine-tune's corpus (None: no filter)
    corpus_filter: CorpusFilterRecord | None = None
    # issue 16: detector sensitivity/specificity used for the corrected prevalence (summary.csv *_corrected)
    calibration: Calibration | None = None
    # issue 19: the mitigate stage (a safety-tuned arm trained on the run's own preference pairs)
    mitigation: MitigationRecord | None = None

    def arm(self, name: str) -> Arm:
        """The arm called ``name`` (KeyError when there is none)."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)

    @property
    def reference_arm(self) -> str | None:
        """Name of the reference arm (None before arms are known)."""
        return next((a.name for a in self.arms if a.reference), None)

    def measure(self, name: str) -> MeasureSpec:
        """The catalogue entry for ``name`` (KeyError when unknown)."""
        for spec in self.measures:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def evaluated(self) -> bool:
        """True when every planned stage before the render stages (export, report) is done."""
        return all(
            self.stages.get(name, StageStatus()).status in ("done", "skipped")
            for name in self.plan
            if name not in ("export", "report")
        )


CORPUS_STATS_VERSION = 1  # bump when CorpusStatsRecord changes shape


class MemorizationStats(RecordModel):
    """How corpus_stats/ngrams.npy was built (see harness.analysis.memorization)."""

    min_chars: int = Field(ge=1)  # the window length N
    max_ngrams: int = Field(ge=1)
    stride: int = Field(ge=1)  # 1: every window kept; 2^k: windows whose hash ≡ 0 mod stride
    documents: int = Field(ge=0)
    ngrams: int = Field(ge=0)  # hashes in ngrams.npy
    sha256: str  # of ngrams.npy: a changed file is refused, not silently used


class CorpusAuditRow(RecordModel):
    """One row of corpus_audit.csv (``harness.analysis.summary.AUDIT_COLUMNS``), kept so the table rebuilds."""

    measure: str
    kind: Literal["rate", "mean"]
    n: int = Field(ge=0)
    count: int | None = None  # rates only
    value: float
    ci_low: float
    ci_high: float

    @classmethod
    def from_cells(cls, row: dict[str, Any]) -> "CorpusAuditRow":
        """A row as the audit builds it (an empty count cell for a mean)."""
        return cls.model_validate({**row, "count": None if row["count"] == "" else row["count"]})

    def cells(self) -> dict[str, Any]:
        """The CSV row, as the audit wrote it (an empty count for a mean)."""
        return {**self.model_dump(), "count": "" if self.count is None else self.count}


class PickedProbe(RecordModel):
    """A memorization probe the audit picked from the corpus (a ``from_corpus`` probe set's prompt)."""

    id: str
    category: str  # train | heldout
    text: str  # the document's first prefix_chars characters


class CorpusStatsRecord(RecordModel):
    """corpus_stats/stats.json: what the tuning corpus contributes to the analysis of generations.

    Written by the audit stage in its one stream over the corpus, read by the
    analyse stage instead of the corpus, so every table is rebuilt from the
    run directory alone.
    """

    version: int = CORPUS_STATS_VERSION
    documents: int = Field(ge=0)
    pii_texts: int = Field(ge=0)  # texts the PII counts are over (pii.csv corpus rows)
    pii_counts: dict[str, int] = {}  # PII kind (and "any") → texts holding it
    # (lemma, pos1, count) in (lemma, pos1) order, tokens as generations are tokenized (vocab_shift.csv)
    lemma_counts: list[tuple[str, str, int]] = []
    memorization: MemorizationStats
    audit: list[CorpusAuditRow] = []  # corpus_audit.csv, rebuilt by the analyse stage from here
    # from_corpus probe sets picked in the audit's stream (set name → probes), so the probe stage
    # does not read the corpus again
    memorization_probes: dict[str, list[PickedProbe]] = {}


MATRIX_VERSION = 1  # bump when MatrixRecord changes shape


class MatrixChild(RecordModel):
    """One child run of a matrix: an ordinary run directory under the parent (``children/<name>``)."""

    name: str  # the folder name and the last part of the child's run name
    overrides: dict[str, Any]  # dotted config key → value, in axis order (what makes this child)
    status: Literal["pending", "running", "complete", "failed"] = "pending"
    seconds: float | None = None  # wall time of its last attempt
    error: str | None = None  # one line, when it failed


class MatrixRecord(RecordModel):
    """matrix.json: the parent of a run matrix (harness.matrix): its axes, its children and their status.

    The parent never holds results: every number it reports is read from the
    children's own run directories.
    """

    version: int = MATRIX_VERSION
    name: str
    created: str
    finished: str | None = None
    status: RunStatus = "running"
    config: str  # the matrix config file as given (absolute path)
    config_sha256: str
    axes: dict[str, list[Any]]  # dotted key → values, in config order
    exclude: list[dict[str, Any]] = []  # partial combinations removed (matrix_exclude)
    children: list[MatrixChild] = []
    backend: str = "local"  # local | processes | ray: how the children last ran
    shared_base: str | None = None  # a base model built once for every child (folder under the parent)


def schema_documents() -> dict[str, dict]:
    """JSON Schemas of the record files, by the file name they are kept under in docs/."""
    return {
        "run-record.schema.json": RunRecord.model_json_schema(),
        "generation.schema.json": Generation.model_json_schema(),
        "score-row.schema.json": ScoreRow.model_json_schema(),
        "corpus-stats.schema.json": CorpusStatsRecord.model_json_schema(),
        "matrix-record.schema.json": MatrixRecord.model_json_schema(),
    }
