"""The stages of a run: plain functions over (config, run directory, environment).

``STAGES`` lists them in order.  ``harness run`` executes them all; each
single-stage command (``audit``, ``finetune``, ``probe``, ``report``,
``export``) calls the same function, so there is one implementation of each.
A stage reads what it needs from the run directory (never from an earlier
stage's memory) and returns ``None`` when done, ``Done(note)`` when done with
something to record (the note lands in run.json), or ``Skipped(reason)`` when
the config gives it nothing to do.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

from harness.config import BASE_ARM, TUNED_ARM, RunConfig
from harness.errors import InputError
from harness.models.generator import Generator, Sample, SamplingPlan
from harness.record.provenance import file_hashes, now
from harness.record.rundir import (
    BASE_MODEL,
    CACHE,
    CHECKPOINTS,
    CORPUS_AUDIT,
    CORPUS_DROPPED,
    CORPUS_SCORES,
    CORPUS_STATS,
    JUNIT,
    MEMO_TABLE,
    MODEL,
    PII_TABLE,
    SCORES,
    SUMMARY,
    RunDir,
)
from harness.record.schema import (
    Arm,
    CorpusAuditRow,
    Generation,
    ProbeRecord,
    Rebuild,
    RunRecord,
    StageStatus,
)

if TYPE_CHECKING:  # annotations only: the analysis modules load when a stage needs them
    from harness.analysis.corpus_stats import CorpusStats
    from harness.analysis.protocol import Table
    from harness.analysis.suite import AnalysisSuite


class Skipped(NamedTuple):
    """A stage with nothing to do for this config, and why."""

    reason: str


class Done(NamedTuple):
    """A finished stage with something worth recording in run.json (e.g. documents truncated)."""

    note: str


class StageEnv:
    """What stages share besides config and run: logging, progress, backends, one analysis suite."""

    def __init__(
        self,
        log: Callable[[str], None] = lambda message: None,
        progress: bool = False,
        generator: Generator | None = None,
        shard=None,
    ) -> None:
        self.shard = shard  # a models.shard.Shard: the probe stage draws only its batches
        self.log = log
        self.progress = progress
        self.generator = generator  # overrides the backend of every arm (tests, dry runs)
        self.written: list[Path] = []  # output files the stages wrote, in order
        # harness report --reanalyse: analyse generations.jsonl as it is now, even when it changed
        self.reanalyse = False
        self._suite = None

    def wrote(self, path: Path) -> None:
        """Note an output file (commands print these) and log it."""
        self.written.append(path)
        self.log(f"  wrote {path}")

    def suite(self, config: RunConfig):
        """The analysis suite for ``config`` (built once: MeCab start-up and lexicon loading)."""
        if self._suite is None:
            from harness.analysis.suite import AnalysisSuite

            self._suite = AnalysisSuite(config.analysis)
        return self._suite


StageFn = Callable[[RunConfig, RunDir, StageEnv], "Skipped | Done | None"]


class Stage(NamedTuple):
    """A named stage function."""

    name: str
    run: StageFn


def model_path(run: RunDir, arm: Arm) -> str:
    """An arm's model: folders the run built live inside the run directory."""
    if arm.source in ("init", "finetune", "checkpoint", "mitigate"):  # a checkpoint's path is absolute after the fact
        return str(run.file(arm.path or ""))
    return arm.path or ""


# -- the stages ---------------------------------------------------------------


def base(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | None:
    """Build the from-scratch base model when the config asks for one (base.init)."""
    if config.base is None or config.base.init is None:
        return Skipped("no base.init in the config: the base model is given" if config.base else "no base model")
    from harness.train.base_init import init_base

    result = init_base(config.base.init, run.output(BASE_MODEL), seed=config.seed, progress=env.progress)
    run.record.base_init = result.model_copy(update={"model_dir": BASE_MODEL})
    run.record.arm(BASE_ARM).parameters = result.parameters
    env.log(
        f"  base: {result.parameters:,} parameters, vocab {result.vocab_size}, "
        f"eval loss {result.eval_loss_before:.2f} → {result.eval_loss_after:.2f}"
    )
    return None


def audit(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | Done | None:
    """The tuning corpus's own rates → corpus_audit.csv, pii.csv; for a run that analyses, corpus_stats/.

    One stream over the corpus (one document in memory at a time, whatever
    its size) also collects what the analysis of generations needs from the
    corpus (harness.analysis.corpus_stats), builds the fine-tune's token cache
    and picks the memorization probes (harness.corpus_feeds), so no later
    stage reads the corpus.  With ``corpus.filter`` each document is kept or
    dropped on its scores before it is fed on (harness.data.corpus_filter).
    """
    if config.corpus is None:
        return Skipped("no corpus in the config")
    from harness.analysis.corpus_audit import audit_corpus_docs
    from harness.analysis.corpus_stats import CorpusStats
    from harness.data.corpus import iter_corpus
    from harness.data.corpus_filter import FilterTally

    suite = env.suite(config)
    stats = CorpusStats.empty(config.analysis) if "analyse" in run.record.plan else None
    tally = FilterTally(config.corpus.filter) if config.corpus.filter is not None else None
    feeds = open_feeds(config, run, stats is not None)
    docs = iter_corpus(config.corpus)

    def scored(doc_id: str, doc, values: dict, details: dict) -> None:
        if tally is None or tally.keep(doc_id, doc, values, details):
            feeds.add(doc)

    try:
        a = config.analysis
        result = audit_corpus_docs(
            suite, docs, workers=a.workers, want_scores=a.audit_scores, stats=stats, scored=scored
        )
        if tally is not None and feeds.cache is not None and tally.documents == len(tally.rows):
            raise InputError(f"corpus.filter drops all {tally.documents} documents: nothing is left to fine-tune on")
        picked = feeds.finish()
    except BaseException:
        feeds.abort()
        raise
    if stats is not None:
        stats.picked = picked
    write_audit_outputs(config, run, env, result, stats)
    env.log(f"  audit: {result.documents} documents")
    notes = [] if tally is None else [f"corpus.filter: {write_filter_outputs(run, env, tally)}"]
    if result.truncated:
        many = result.truncated
        notes.append(f"{many} document{'s' * (many != 1)} truncated to {suite.tokenizer.max_chars:,} characters")
    if docs.nul_chars:
        notes.append(f"{docs.nul_chars} NUL character{'s' * (docs.nul_chars != 1)} stripped from the corpus")
    for note in notes:
        env.log(f"  audit: {note}")
    return Done("; ".join(notes)) if notes else None


def picked_probes(run: RunDir) -> dict:
    """The memorization probes the audit picked (corpus_stats/), by set; empty when it stored none."""
    from harness.analysis.corpus_stats import STATS_FILE, read_stats_record
    from harness.data.probes import Probe

    path = run.file(CORPUS_STATS) / STATS_FILE
    if not path.is_file():
        return {}
    picked = read_stats_record(path).memorization_probes
    return {name: tuple(Probe(name, p.id, p.category, p.text) for p in probes) for name, probes in picked.items()}


def open_feeds(config: RunConfig, run: RunDir, stores_probes: bool):
    """What the audit's stream also feeds: the token cache of a fine-tune still to run, the memorization pickers."""
    from harness.corpus_feeds import CorpusFeeds

    arms = {a.name: a for a in run.record.arms}
    tuned = arms.get(TUNED_ARM)
    will_finetune = tuned is not None and tuned.source == "finetune" and run.stage("finetune").status != "done"
    base = Path(model_path(run, arms[BASE_ARM])) if BASE_ARM in arms else None
    return CorpusFeeds.open(config, base, will_finetune, stores_probes and "probe" in run.record.plan)


def write_audit_outputs(config: RunConfig, run: RunDir, env: StageEnv, result, stats) -> None:
    """corpus_audit.csv, pii.csv, corpus_stats/ (when the run analyses) and the per-document scores when asked."""
    from harness.analysis.corpus_stats import write_corpus_stats
    from harness.analysis.pii_measures import PII_COLUMNS

    run.write_table(CORPUS_AUDIT, result.table.rows, result.table.columns)
    run.write_table(PII_TABLE, result.pii_rows, PII_COLUMNS)
    if stats is not None:
        stats.audit = [CorpusAuditRow.from_cells(row) for row in result.table.rows]
        write_corpus_stats(run, stats)
    if config.analysis.audit_scores:
        # a run that also analyses generations keeps scores.csv for them
        name = CORPUS_SCORES if stats is not None else SCORES
        env.wrote(run.write_table(name, result.score_rows, result.score_columns))
    run.record.corpus_rates = result.rates


def write_filter_outputs(run: RunDir, env: StageEnv, tally) -> str:
    """corpus_dropped.csv and run.json ``corpus_filter`` (a ``data.corpus_filter.FilterTally``); the summary line."""
    from harness.data.corpus_filter import DROPPED_COLUMNS, summary_line

    env.wrote(run.write_table(CORPUS_DROPPED, tally.rows, DROPPED_COLUMNS))
    run.record.corpus_filter = tally.record()
    return summary_line(run.record.corpus_filter)


def finetune(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | None:
    """Fine-tune the base arm on the corpus into model/ when the tuned arm comes from fine-tuning."""
    arms = {a.name: a for a in run.record.arms}
    tuned = arms.get(TUNED_ARM)
    if tuned is None or tuned.source != "finetune":
        return Skipped("tuned weights are given" if tuned else "no tuned arm (no base or no corpus)")
    from harness.data.corpus_filter import kept_documents
    from harness.train.finetune import finetune as train

    assert config.corpus is not None  # a "finetune" arm exists only with a corpus
    result = train(
        model_path(run, arms[BASE_ARM]),
        config.corpus,
        config.finetune,
        run.output(MODEL),
        seed=config.seed,
        progress=env.progress,
        checkpoint_dir=run.output(CHECKPOINTS),  # resumed from after a crash (harness run --resume)
        kept=kept_documents(config, run),  # corpus.filter: the audit's decisions
    )
    run.record.finetune = result.model_copy(
        update={"model_dir": MODEL, "checkpoints": [f"{CHECKPOINTS}/{name}" for name in result.checkpoints]}
    )
    env.log(
        f"  finetune: {result.steps} steps, {result.tokens_per_second:,.0f} tokens/s, eval loss "
        f"{result.eval_loss_before:.2f} → {result.eval_loss_after:.2f} (ppl {result.perplexity_before:.1f} → "
        f"{result.perplexity_after:.1f})"
    )
    return None


def probe(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | Done | None:
    """Sample every arm with the same probes, seeds and decoding → generations.jsonl.

    Each arm's generations come from ``sample_arm``: read from a file
    (external), relabelled from another arm (alias) or sampled (``probe_arm``).
    A trajectory (harness.trajectory) first adds the fine-tune's checkpoints as
    arms, and ends by measuring each one's held-out and neutral loss → trajectory.csv.
    """
    from harness.trajectory import add_run_checkpoints

    if not run.record.arms:
        return Skipped("no arms to probe")
    if added := add_run_checkpoints(config, run):
        env.log(f"  trajectory: {added} checkpoints probed as arms")
    plan = sampling_plan(config, run, env)
    check_endpoint_keys(config, env)  # before any arm is sampled, not after the local ones
    by_arm: dict[str, list[Generation]] = {}
    for arm in run.record.arms:
        by_arm[arm.name] = sample_arm(config, run, env, arm, plan, by_arm)
    if env.shard is not None:  # a shard's samples live in the cache; the unsharded run assembles them
        count = sum(len(mine) for mine in by_arm.values())
        return Done(f"{env.shard.label}: {count} samples in {generations_cache(config, run)}")
    return write_probe_outputs(config, run, env, plan, by_arm)


def sampling_plan(config: RunConfig, run: RunDir, env: StageEnv) -> SamplingPlan:
    """The probe stage's ``SamplingPlan``: every prompt, sample count, decoding, seed, chat settings (and the shard)."""
    from harness.data.memorization import run_probes
    from harness.data.probes import load_probe_sets

    probes = run_probes(load_probe_sets(config.probes.files), config, picked_probes(run))
    p = config.probes
    return SamplingPlan(
        probes, p.samples_per_prompt, p.decoding, config.seed, p.batch_size, p.engine, env.shard, p.chat, p.system
    )


def generations_cache(config: RunConfig, run: RunDir) -> Path:
    """Where finished samples are cached (``probes.cache_dir``, else inside the run)."""
    return config.probes.cache_dir or run.output(CACHE) / "generations"


def endpoints_of(config: RunConfig) -> dict:
    """The served arms' ``EndpointConfig`` by arm name."""
    return {a.name: a.endpoint for a in config.arm_plan() if a.endpoint is not None}


def check_endpoint_keys(config: RunConfig, env: StageEnv) -> None:
    """Every served arm's API key variable is set (harness.models.endpoint); nothing to check for fake runs."""
    endpoints = endpoints_of(config)
    if not endpoints or env.generator is not None or config.probes.backend == "fake":
        return
    from harness.models.endpoint import check_api_key

    for name, endpoint in endpoints.items():
        check_api_key(name, endpoint)


def sample_arm(
    config: RunConfig, run: RunDir, env: StageEnv, arm: Arm, plan: SamplingPlan, by_arm: dict[str, list[Generation]]
) -> list[Generation]:
    """One arm's generations for ``plan``: read (external), relabelled (an alias of an arm in ``by_arm``) or sampled."""
    if arm.source == "external":
        return read_external_arm(config, arm, plan)
    if arm.same_as is not None:
        return alias_arm(run, arm, by_arm[arm.same_as])
    return probe_arm(config, run, env, arm, plan)


def read_external_arm(config: RunConfig, arm: Arm, plan: SamplingPlan) -> list[Generation]:
    """Generations made elsewhere: read from the arm's file, not sampled (harness.external)."""
    from harness.external import external_arm_config, external_generations

    mine, arm.external = external_generations(external_arm_config(config, arm.name), plan.probes)
    arm.backend, arm.fingerprint = "external", arm.external.sha256
    return mine


def alias_arm(run: RunDir, arm: Arm, target_generations: list[Generation]) -> list[Generation]:
    """The same weights as ``arm.same_as``: its completions relabelled (identical seeds make them pair exactly)."""
    target = run.record.arm(arm.same_as or "")
    arm.parameters, arm.backend, arm.fingerprint = target.parameters, target.backend, target.fingerprint
    arm.served_model, arm.seed_honoured, arm.stop_ids = target.served_model, target.seed_honoured, target.stop_ids
    return [
        Generation.build(**{**g.model_dump(exclude={"id", "arm", "text"}), "arm": arm.name}) for g in target_generations
    ]


def probe_arm(config: RunConfig, run: RunDir, env: StageEnv, arm: Arm, plan: SamplingPlan) -> list[Generation]:
    """Sample one arm's model for ``plan`` through its backend and the generation cache; record what the
    backend found on ``arm`` (fingerprint, stop ids, parameters, backend, served model)."""
    from harness.models.backends import generator_for
    from harness.models.gencache import arm_fingerprint, arm_stop_ids, open_store

    path = model_path(run, arm)
    allow_hub = bool(config.base and config.base.allow_hub)
    generator = env.generator or generator_for(path, config.probes, allow_hub, endpoints_of(config).get(arm.name))
    arm.fingerprint = arm_fingerprint(generator, arm.name, path)  # the cache key, the exports' model_sha256
    stops = arm_stop_ids(generator, arm.name, path, plan)
    arm.stop_ids = list(stops) if stops is not None else None
    part = f".{env.shard.label}" if env.shard is not None else ""
    # finished samples stream into the store: a killed stage resumes there (gencache.py)
    store = open_store(arm.fingerprint, plan, generations_cache(config, run), part=part, stop_ids=stops)
    try:
        if store is None:
            answer = generator.sample(arm.name, path, plan, env.progress)
        else:
            answer = generator.sample(arm.name, path, plan, env.progress, store=store)
    finally:
        if store is not None:
            store.close()
    arm.parameters = answer.parameters if answer.parameters is not None else arm.parameters
    arm.backend = generator.backend
    arm.served_model, arm.seed_honoured = served_summary(answer.samples)
    decoding = config.probes.decoding.model_dump()
    return [sample_generation(arm.name, s, decoding) for s in answer.samples]


def sample_generation(arm: str, s: Sample, decoding: dict) -> Generation:
    """A backend's ``Sample`` as arm ``arm``'s ``Generation`` (a line of generations.jsonl)."""
    return Generation.build(
        arm=arm,
        probe_set=s.probe.probe_set,
        probe_id=s.probe.id,
        category=s.probe.category,
        group=s.probe.group,
        prompt=s.probe.text,
        completion=s.completion,
        sample_index=s.sample_index,
        seed=s.seed,
        decoding=decoding,
        prompt_tokens=s.prompt_tokens,
        completion_tokens=s.completion_tokens,
        hit_max_tokens=s.hit_max_tokens,
        rendered_prompt=s.rendered_prompt,
        chat_template_sha256=s.chat_template_sha256,
        served_model=s.served_model,
        seed_honoured=s.seed_honoured,
    )


def write_probe_outputs(
    config: RunConfig, run: RunDir, env: StageEnv, plan: SamplingPlan, by_arm: dict[str, list[Generation]]
) -> Done | None:
    """generations.jsonl, run.json ``probe`` and each arm's pairing, trajectory.csv for a trajectory."""
    from harness.external import pairing_lines, record_pairing
    from harness.trajectory import write_trajectory_table

    generations = [g for mine in by_arm.values() for g in mine]
    run.write_generations(generations)
    run.record.probe = ProbeRecord(
        prompts=len(plan.probes), samples=len(generations), samples_per_arm={a: len(g) for a, g in by_arm.items()}
    )
    if table := write_trajectory_table(config, run, lambda arm: model_path(run, arm)):
        env.wrote(table)
    env.log(f"  probe: {len(plan.probes)} prompts × {plan.samples_per_prompt} samples × {len(by_arm)} arms")
    record_pairing(run.record, by_arm)
    for line in (notes := pairing_lines(run.record)):
        env.log(f"  {line}")
    return Done("; ".join(notes)) if notes else None


def served_summary(samples) -> tuple[str | None, bool | None]:
    """A served arm's ``Arm.served_model`` and ``Arm.seed_honoured`` from its samples (None, None for others)."""
    names = sorted({s.served_model for s in samples if s.served_model is not None})
    checks = [s.seed_honoured for s in samples if s.seed_honoured is not None]
    return ", ".join(names) or None, all(checks) if checks else None


def analyse(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | None:
    """Score every generation and summarise per arm → scores.csv, summary.csv and the other tables.

    Reads only the run directory (run.json, generations.jsonl, corpus_stats/)
    and the lexicons, which must be the ones recorded: a rebuild equals the
    original byte for byte.
    """
    check_analysis_inputs_unchanged(config, run.record)
    suite = env.suite(config)
    generations = run.read_generations(accept_changed=env.reanalyse)
    corpus = read_corpus_side(config, run)
    tables = analysis_tables(config, run.record, suite, generations, corpus)
    for table in tables:
        run.write_table(table.name, table.rows, table.columns)
    record_analysis(run.record, suite, tables, generations, corpus)
    if corpus is not None:
        index = corpus.index
        env.log(f"  memorization: {len(index):,} hashed {index.n}-grams of {index.documents} documents")
    for note in suite.calibration().notes:
        env.log(f"  warning: detector quality: {note}")
    log_headline_deltas(env, table_named(tables, SUMMARY).rows)
    return None


def analysis_input_files(config: RunConfig) -> list[Path]:
    """The files the analysis tables depend on besides the run directory: lexicons, word lists and
    the detector quality file (the corrected prevalences of summary.csv)."""
    from harness.resources import detector_quality_file

    quality = detector_quality_file()
    return [*config.analysis.lexicon_files(), *([quality] if quality.is_file() else [])]


def check_analysis_inputs_unchanged(config: RunConfig, record: RunRecord) -> None:
    """Refuse to analyse when an input recorded in run.json ``hashes`` has changed or gone.

    The corpus is not among them: its contribution was stored by the audit
    stage (corpus_stats/), so a moved or edited corpus does not change the tables.
    """
    files = analysis_input_files(config)
    missing = [str(p) for p in files if str(p) in record.hashes and not Path(p).is_file()]
    if missing:
        raise InputError(f"analysis input missing (recorded in run.json hashes): {', '.join(missing)}")
    changed = [p for p, digest in file_hashes(files).items() if record.hashes.get(p, digest) != digest]
    if changed:
        raise InputError(
            f"analysis input changed since the run started (sha256 differs from run.json): {', '.join(changed)}; "
            "the tables would not match the run — start a new run to use the new file"
        )


def read_corpus_side(config: RunConfig, run: RunDir) -> CorpusStats | None:
    """What the audit stored about the tuning corpus (None for a run without one)."""
    if config.corpus is None:
        return None
    from harness.analysis.corpus_stats import read_corpus_stats

    return read_corpus_stats(run)


def analysis_tables(
    config: RunConfig,
    record: RunRecord,
    suite: AnalysisSuite,
    generations: list[Generation],
    corpus: CorpusStats | None,
) -> list[Table]:
    """Every analysis table, in the order run.json lists them (a new list; nothing is changed in place)."""
    from harness.analysis.memorization import MEMO_COLUMNS, memorization_rows
    from harness.analysis.protocol import Table

    arms = [a.name for a in record.arms]
    a = config.analysis
    tables = suite.score_generations(
        generations,
        arms,
        record.reference_arm,
        n_boot=a.bootstrap,
        seed=config.seed,
        corpus_counts=corpus.lemmas if corpus is not None else None,
    )
    if corpus is None:
        return tables
    from harness.analysis.summary import AUDIT_COLUMNS

    tables = [with_corpus_pii_rows(t, corpus) if t.name == PII_TABLE else t for t in tables]
    rows = memorization_rows(generations, corpus.index, arms, n_boot=a.bootstrap, seed=config.seed)
    tables.append(Table(MEMO_TABLE, rows, list(MEMO_COLUMNS)))
    if corpus.audit:  # the audit's own table, so that it too rebuilds from the run directory alone
        tables.append(Table(CORPUS_AUDIT, corpus.audit_rows(), list(AUDIT_COLUMNS)))
    return tables


def with_corpus_pii_rows(table: Table, corpus: CorpusStats) -> Table:
    """pii.csv with the corpus's rows above the generations' rows."""
    from harness.analysis.protocol import Table

    return Table(table.name, [*corpus.pii_rows(), *table.rows], table.columns)


def table_named(tables: Sequence[Table], name: str) -> Table:
    """The table called ``name`` (``KeyError`` when the analysis wrote none)."""
    for table in tables:
        if table.name == name:
            return table
    raise KeyError(name)


def record_analysis(
    record: RunRecord,
    suite: AnalysisSuite,
    tables: Sequence[Table],
    generations: Sequence[Generation],
    corpus: CorpusStats | None,
) -> None:
    """What run.json keeps of the analysis: catalogue (k from the generations), tables, dictionary, memorization."""
    from harness.analysis.toxicity import samples_per_prompt

    record.measures = suite.run_catalogue(samples_per_prompt(generations))
    record.tables = [t.name for t in tables]
    record.dictionary = suite.dictionary_info()
    record.calibration = suite.calibration()
    record.versions["dictionary"] = record.dictionary.get("label")
    record.memorization = corpus.memorization_summary() if corpus is not None else None


def log_headline_deltas(env: StageEnv, summary: Sequence[dict]) -> None:
    """Log the all-categories deltas of ``flagged`` and ``polite`` (the numbers a reader looks at first)."""
    for row in summary:
        if row["kind"] == "delta" and row["probe_category"] == "all" and row["measure"] in ("flagged", "polite"):
            env.log(
                f"  {row['measure']}: {row['arm']}−{row['versus']} {row['value']:+.3f} "
                f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
            )


def gates(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | None:
    """Hold summary.csv against the config's gates → run.json ``gates``, gates.junit.xml, a terminal table."""
    from harness.gate_output import gate_table, junit_xml
    from harness.gates import evaluate_gates

    # checkpoint arms (a trajectory) are not gated: the gates judge the models that ship
    arms = [a.name for a in run.record.arms if a.source != "checkpoint"]
    report = evaluate_gates(config.gates, run.read_table(SUMMARY), arms, run.record.reference_arm)
    run.record.gates = report
    # the whole table is printed by the CLI at the end of the run (even with --quiet)
    env.log(f"  {gate_table(run.record, report).splitlines()[-1]}")
    env.wrote(run.write_text(JUNIT, junit_xml(run.record, report)))
    return None


def export(
    config: RunConfig,
    run: RunDir,
    env: StageEnv,
    formats: Sequence[str] | None = None,
    mask: bool | None = None,
) -> Skipped | Done | None:
    """Negative examples and preference data → negatives/ (formats, filters and masking from the config).

    Warnings (a KTO label imbalance) are logged and kept as the stage's note in run.json.
    """
    from harness.export import export_run

    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        env.log(f"  {message}")

    for fmt in formats or config.export.formats:
        mask_text = config.export.mask if mask is None else mask
        for path in export_run(run, fmt, mask=mask_text, options=config.export, log=warn):
            env.wrote(path)
    return Done("; ".join(warnings)) if warnings else None


def mitigate(config: RunConfig, run: RunDir, env: StageEnv) -> Skipped | Done | None:
    """Safety-tune ``mitigate.from`` on its own preference pairs (train split) → a new arm, probed and
    analysed with the others, and mitigation.csv (held-out effects and capability cost); harness.mitigate."""
    if config.mitigate is None:
        return Skipped("no mitigate in the config")
    from harness.mitigate.stage import StageHooks, run_mitigation

    hooks = StageHooks(
        log=env.log,
        wrote=env.wrote,
        model_path=lambda arm: model_path(run, arm),
        probe=lambda arm: sample_arm(config, run, env, arm, sampling_plan(config, run, env), {}),
        analyse=lambda: analyse(config, run, env),
    )
    outcome = run_mitigation(config, run, hooks)
    if outcome.skipped is not None:
        return Skipped(outcome.skipped)
    return Done(outcome.note) if outcome.note else None


def report(
    config: RunConfig, run: RunDir, env: StageEnv, mask: bool | None = None, excel: bool | None = None
) -> Skipped | None:
    """The self-contained HTML report → report.html; with ``report.csv_bom`` (or ``excel``) BOM CSVs.

    ``mask`` overrides ``analysis.mask_flagged`` (whether flagged text starts masked).
    """
    from harness.report.excel import excel_tables
    from harness.report.html import write_report

    env.wrote(write_report(run, mask=mask))
    if config.report.csv_bom if excel is None else excel:
        for path in excel_tables(run):
            env.wrote(path)
    return None


STAGES: tuple[Stage, ...] = (
    Stage("base", base),
    Stage("audit", audit),
    Stage("finetune", finetune),
    Stage("probe", probe),
    Stage("analyse", analyse),
    Stage("gates", gates),
    Stage("export", export),
    Stage("mitigate", mitigate),
    Stage("report", report),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def stage_named(name: str) -> Stage:
    """The stage called ``name``."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(name)


def run_stage(config: RunConfig, run: RunDir, env: StageEnv, stage: Stage, **options) -> None:
    """Run one stage now (even if done before), recording its status and time in run.json.

    On a finished run the outcome goes to ``RunRecord.rebuilds``: the stages'
    record and the finish time say how the run was made and never change.  A
    rebuild that fails is not recorded: a refused input leaves run.json as it was.
    """
    if not run.finished:
        run.set_stage(stage.name, StageStatus(status="running"))
    started = time.perf_counter()
    try:
        outcome = stage.run(config, run, env, **options)
    except BaseException as err:
        if not run.finished:
            run.set_stage(stage.name, StageStatus(status="failed", error=str(err)[:500] or type(err).__name__))
        raise
    seconds = round(time.perf_counter() - started, 2)
    if isinstance(outcome, Skipped):
        env.log(f"  skipped: {outcome.reason}")
        finish_stage(run, stage.name, StageStatus(status="skipped", seconds=seconds, note=outcome.reason))
    else:
        note = outcome.note if isinstance(outcome, Done) else None
        finish_stage(run, stage.name, StageStatus(status="done", seconds=seconds, note=note))


def finish_stage(run: RunDir, name: str, status: StageStatus) -> None:
    """Record a stage's outcome: its status, or on a finished run a rebuild entry."""
    if not run.finished:
        run.set_stage(name, status)
        return
    fields = status.model_dump(include={"status", "seconds", "error", "note"})
    run.add_rebuild(Rebuild(stage=name, at=now(), **fields))


# a failure of these stages does not stop the ones after them: an export error
# must not leave the run without report.html (and hide the gate verdict)
CONTINUE_AFTER_FAILURE = frozenset({"export"})


def is_last_stage(run: RunDir, name: str) -> bool:
    """True when ``name`` is the plan's last stage and every stage before it is done or skipped."""
    plan = run.record.plan
    return bool(plan) and plan[-1] == name and all(run.stage(n).status in ("done", "skipped") for n in plan[:-1])


def execute(config: RunConfig, run: RunDir, env: StageEnv, names: Sequence[str] | None = None) -> None:
    """Run the named stages (default: the record's plan) in order, skipping finished ones.

    A stage of ``CONTINUE_AFTER_FAILURE`` that fails is recorded as failed,
    the later stages still run, and its error is raised at the end.
    """
    names = list(names or run.record.plan)
    deferred: Exception | None = None
    for number, name in enumerate(names, start=1):
        if run.stage(name).status in ("done", "skipped"):
            env.log(f"[{number}/{len(names)}] {name}: done earlier, skipped")
            continue
        env.log(f"[{number}/{len(names)}] {name} …")
        if is_last_stage(run, name):
            run.stamp_finish()  # the report (the last stage) shows when the run finished
        try:
            run_stage(config, run, env, stage_named(name))
        except Exception as err:
            if name not in CONTINUE_AFTER_FAILURE or deferred is not None:
                raise
            env.log(f"  {name} failed: {err}; the stages after it still run")
            deferred = err
    run.finish()
    if deferred is not None:
        raise deferred
