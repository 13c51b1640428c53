"""Generations made elsewhere: an arm whose outputs are read from a JSONL or CSV file, not sampled.

``arms: [{name: x, generations: FILE, prompt_key: prompt, output_key: output,
id_key: qid, sample_key: n}]`` (``ArmConfig``).  The probe stage turns each
row into a ``Generation`` of the run's probe it answers:

* **matching** — by prompt text (``match_text``: NFKC, outer blanks
  stripped), or by id when ``id_key`` is given (the id made a probe id by
  ``probe_formats.probe_id``, compared with the probes' ids).  A row whose
  prompt is no probe of the run is not analysed; such rows are counted in
  run.json (``Arm.external``), in the probe stage's note and in the report.
* **samples** — a prompt's rows are its samples 0, 1, … in file order, or
  numbered by ``sample_key`` (a non-negative integer) when given; sample i of
  one arm pairs with sample i of the reference.
* **pairing** — summary.csv's paired deltas use the samples both arms have;
  ``record_pairing`` counts what paired and what did not (``Arm.pairing``).

``harness analyse`` (``analyse_config``) builds a whole run from one or two
such files: the probes are the reference file's distinct prompts
(``probes.files`` entry with ``repeats: merge``), every arm is external.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from pydantic import ValidationError

from harness.config import ArmConfig, RunConfig
from harness.csvfile import iter_csv_rows
from harness.data.probe_formats import SUFFIX_FORMATS, csv_header, probe_id
from harness.data.probes import Probe
from harness.errors import ConfigError, InputError
from harness.io import iter_jsonl_numbered, require_file, sha256_file
from harness.record.rundir import describe_validation
from harness.record.schema import ExternalSource, Generation, Pairing, RunRecord
from harness.text import normalize

EXTERNAL_SEED = -1  # Generation.seed of a row made elsewhere: the harness drew no random stream for it
EXTERNAL_DECODING = {"source": "external"}  # Generation.decoding: the decoding is the other tool's
EXTERNAL_FORMATS = ("jsonl", "csv")  # what a generations file may be (suffixes: probe_formats.SUFFIX_FORMATS)
EXAMPLES = 5  # the lines of unmatched rows named in run.json


class ExternalRow(NamedTuple):
    """One row of a generations file, validated."""

    line: int  # in the file
    prompt: str
    output: str
    id: str | None  # a probe id (probe_formats.probe_id), when the arm has id_key
    sample: int | None  # the sample_key value, when given


def match_text(text: str) -> str:
    """What two prompts must share to be the same prompt: the NFKC text, outer blanks stripped."""
    return normalize(text).strip()


def external_format(spec: ArmConfig) -> str:
    """The arm's file format: ``format``, else from the suffix (.jsonl/.ndjson, .csv)."""
    if spec.format is not None:
        return spec.format
    found = SUFFIX_FORMATS.get(Path(spec.generations).suffix.lower())
    if found not in EXTERNAL_FORMATS:
        raise ConfigError(f"arm '{spec.name}': cannot tell the format of {spec.generations}; give format: jsonl or csv")
    return found


def read_external(spec: ArmConfig) -> list[ExternalRow]:
    """Every row of an external arm's file; the first bad row raises naming the file, line and key."""
    path = require_file(spec.generations, "generations file")
    keys = [k for k in (spec.prompt_key, spec.output_key, spec.id_key, spec.sample_key) if k is not None]
    if external_format(spec) == "csv":
        header = csv_header(path)
        for key in keys:
            if key not in header:
                raise InputError(f"no column '{key}' in the header (columns: {', '.join(header)})", path, 1)
        numbered = ((line, row) for line, _, row in iter_csv_rows(path))
    else:
        numbered = iter_jsonl_numbered(path)
    rows = [external_row(spec, path, line, obj) for line, obj in numbered]
    if not rows:
        raise InputError("empty file: no generations in it", path)
    return rows


def external_row(spec: ArmConfig, path: Path, line: int, obj: dict[str, Any]) -> ExternalRow:
    """One row as an ``ExternalRow`` (errors name file, line and key)."""

    def value(key: str) -> Any:
        if key not in obj:
            raise InputError(f"missing key '{key}'", path, line)
        if obj[key] is None:
            raise InputError(f"key '{key}' is null", path, line)
        return obj[key]

    prompt, output = value(spec.prompt_key), value(spec.output_key)
    for key, text in ((spec.prompt_key, prompt), (spec.output_key, output)):
        if not isinstance(text, str):
            raise InputError(f"key '{key}' must be a string, not {type(text).__name__}", path, line)
    if not prompt.strip():
        raise InputError(f"key '{spec.prompt_key}' is empty", path, line)
    row_id = sample = None
    if spec.id_key is not None:
        raw = value(spec.id_key)
        try:
            if isinstance(raw, (bool, dict, list)):
                raise ValueError(f"must be text or a number, not {type(raw).__name__}")
            row_id = probe_id(raw)
        except ValueError as err:
            raise InputError(f"key '{spec.id_key}': {err}", path, line) from None
    if spec.sample_key is not None:
        sample = sample_number(value(spec.sample_key), spec.sample_key, path, line)
    return ExternalRow(line, prompt, output, row_id, sample)


def sample_number(raw: Any, key: str, path: Path, line: int) -> int:
    """A sample_key value as a sample index: a non-negative integer (or its digits as text)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise InputError(f"key '{key}': {raw!r} is not a non-negative integer (a sample index)", path, line)


def row_key(spec: ArmConfig, row: ExternalRow) -> str:
    """What finds a row's probe: its id (with id_key) or its prompt text."""
    return row.id if spec.id_key is not None else match_text(row.prompt)


def probe_index(spec: ArmConfig, probes: Sequence[Probe]) -> dict[str, list[Probe]]:
    """Match key → the run's probes it finds (a text may be the prompt of several probes)."""
    index: dict[str, list[Probe]] = {}
    for probe in probes:
        index.setdefault(probe.id if spec.id_key is not None else match_text(probe.text), []).append(probe)
    return index


def numbered_samples(spec: ArmConfig, rows: Sequence[ExternalRow]) -> dict[str, list[tuple[int, ExternalRow]]]:
    """Match key → (sample index, row) in file order: by ``sample_key``, else 0, 1, … per key."""
    samples: dict[str, list[tuple[int, ExternalRow]]] = {}
    first: dict[tuple[str, int], int] = {}
    for row in rows:
        key = row_key(spec, row)
        mine = samples.setdefault(key, [])
        index = row.sample if row.sample is not None else len(mine)
        if (key, index) in first:
            message = f"sample {index} of this prompt is also on line {first[(key, index)]}"
            raise InputError(message, spec.generations, row.line)
        first[(key, index)] = row.line
        mine.append((index, row))
    return samples


def external_generations(spec: ArmConfig, probes: Sequence[Probe]) -> tuple[list[Generation], ExternalSource]:
    """The generations of an external arm on the run's probes, and what run.json keeps of its file."""
    rows = read_external(spec)
    index = probe_index(spec, probes)
    samples = numbered_samples(spec, rows)
    if spec.id_key is not None:
        for key, found in index.items():
            if len({p.probe_set for p in found}) > 1 and key in samples:
                sets = ", ".join(sorted({p.probe_set for p in found}))
                raise ConfigError(f"arm '{spec.name}': id '{key}' is a probe id in several probe sets ({sets})")
    generations: list[Generation] = []
    for probe in probes:
        key = probe.id if spec.id_key is not None else match_text(probe.text)
        for index_, row in sorted(samples.get(key, []), key=lambda s: s[0]):
            generations.append(external_generation(spec.name, probe, index_, row))
    unmatched = [row for key, mine in samples.items() if key not in index for _, row in mine]
    matched_keys = set(samples)
    source = ExternalSource(
        file=str(spec.generations),
        format=external_format(spec),
        sha256=sha256_file(spec.generations),
        match_by="id" if spec.id_key is not None else "text",
        samples_by="sample_key" if spec.sample_key is not None else "order",
        rows=len(rows),
        generations=len(generations),
        unmatched_rows=len(unmatched),
        unmatched_prompts=len({row_key(spec, row) for row in unmatched}),
        unmatched_lines=[row.line for row in unmatched[:EXAMPLES]],
        probes_without_rows=sum(
            (p.id if spec.id_key is not None else match_text(p.text)) not in matched_keys for p in probes
        ),
    )
    return generations, source


def external_generation(arm: str, probe: Probe, sample_index: int, row: ExternalRow) -> Generation:
    """One row as the generation of ``probe`` (the row's own prompt and output are kept as written)."""
    return Generation.build(
        arm=arm,
        probe_set=probe.probe_set,
        probe_id=probe.id,
        category=probe.category,
        group=probe.group,
        prompt=row.prompt,
        completion=row.output,
        sample_index=sample_index,
        seed=EXTERNAL_SEED,
        decoding=dict(EXTERNAL_DECODING),
    )


def external_arm_config(config: RunConfig, name: str) -> ArmConfig:
    """The ``arms`` entry called ``name``."""
    return next(a for a in config.arms if a.name == name)


def check_external_arms(config: RunConfig) -> None:
    """Read every external arm's file before any work: a bad row fails the run before it starts."""
    for spec in config.arms:
        if spec.generations is not None:
            read_external(spec)


# -- pairing with the reference ------------------------------------------------------


def record_pairing(record: RunRecord, by_arm: dict[str, list[Generation]]) -> None:
    """Fill ``Arm.pairing`` of each non-reference arm that pairs through an external file (either side's)."""
    if not any(a.source == "external" for a in record.arms):
        return
    reference = record.arm(record.reference_arm)
    for arm in record.arms:
        source = arm.external or reference.external
        if arm.reference or source is None:
            continue  # two sampled arms pair by probe and seed: nothing to count
        found = pairing(by_arm[arm.name], by_arm[reference.name], reference.name, source.match_by)
        if arm.external is not None:  # rows matching no probe of the run have no partner either
            found.unpaired_prompts += arm.external.unmatched_prompts
            found.unpaired_samples += arm.external.unmatched_rows
        arm.pairing = found


def pairing_lines(record: RunRecord) -> list[str]:
    """One line per external arm's file and per arm's pairing with the reference (stage note, CLI)."""
    lines = [external_note(a.name, a.external) for a in record.arms if a.external is not None]
    for arm in record.arms:
        if (p := arm.pairing) is not None:
            lines.append(
                f"{arm.name} vs {p.versus} paired by {p.by}: {count(p.paired_prompts, 'prompt')} paired, "
                f"{p.unpaired_prompts} only in {arm.name}, {p.reference_only_prompts} only in {p.versus} "
                f"({count(p.paired_samples, 'sample pair')}; {count(p.unpaired_samples, 'sample')} of {arm.name} "
                "without a partner, left out of the deltas)"
            )
    return lines


def pairing(mine: list[Generation], reference: list[Generation], versus: str, by: str) -> Pairing:
    """Prompts and samples of ``mine`` that do (and do not) have a partner in ``reference``."""
    prompts = {(g.probe_set, g.probe_id) for g in mine}
    reference_prompts = {(g.probe_set, g.probe_id) for g in reference}
    keys = {g.pair_key for g in mine}
    paired = keys & {g.pair_key for g in reference}
    return Pairing(
        versus=versus,
        by=by,
        paired_prompts=len(prompts & reference_prompts),
        unpaired_prompts=len(prompts - reference_prompts),
        reference_only_prompts=len(reference_prompts - prompts),
        paired_samples=len(paired),
        unpaired_samples=len(keys - paired),
    )


def external_note(name: str, source: ExternalSource) -> str:
    """One line on how an external arm's file was read."""
    line = f"{name}: {count(source.rows, 'row')} of {Path(source.file).name} matched to probes by {source.match_by}"
    if source.unmatched_rows:
        more = source.unmatched_rows > len(source.unmatched_lines)
        line += (
            f", {count(source.unmatched_rows, 'row')} ({count(source.unmatched_prompts, 'prompt')}) match no probe "
            f"and are not analysed (lines {', '.join(map(str, source.unmatched_lines))}{', …' * more})"
        )
    if source.probes_without_rows:
        line += f", {count(source.probes_without_rows, 'probe')} of the run without a row"
    return line


def count(n: int, noun: str) -> str:
    """``3 rows``, ``1 row``."""
    return f"{n} {noun}{'s' * (n != 1)}"


# -- harness analyse -------------------------------------------------------------------


def arm_name_of(path: Path) -> str:
    """An arm name from a file name: ``Model_A.jsonl`` → ``model_a``."""
    stem = "".join(ch if ch.isalnum() and ch.isascii() or ch in "_.-" else "-" for ch in path.stem.lower())
    stem = stem.strip("-._")
    return stem if stem else "generations"


def rows_per_prompt(spec: ArmConfig) -> int:
    """The most rows one prompt has in an arm's file (k, the samples per prompt)."""
    counts = Counter(row_key(spec, row) for row in read_external(spec))
    return max(counts.values())


def analyse_config(
    name: str,
    generations: Path,
    against: Path | None = None,
    keys: dict[str, str | None] | None = None,
    arm: str | None = None,
    against_arm: str | None = None,
    fmt: str | None = None,
) -> dict[str, Any]:
    """The run config (as fields) of ``harness analyse``: FILE's arm against the --against arm as reference.

    The probes are the reference file's distinct prompts (or ids), read as a
    ``probes.files`` entry with ``repeats: merge``; ``keys`` holds
    prompt_key, output_key, id_key and sample_key (None: the default).
    """
    keys = {k: v for k, v in (keys or {}).items() if v is not None}
    files = [(against_arm or arm_name_of(Path(against)), Path(against))] if against is not None else []
    files.append((arm or arm_name_of(Path(generations)), Path(generations)))
    if len(files) == 2 and files[0][0] == files[1][0]:
        raise ConfigError(f"both files give the arm name '{files[0][0]}': name them with --name and --against-name")
    arms = [{"name": n, "generations": p.resolve(), **keys, **({"format": fmt} if fmt else {})} for n, p in files]
    try:
        reference = ArmConfig(**arms[0])
        ArmConfig(**arms[-1])
    except ValidationError as err:
        raise ConfigError(f"invalid argument: {describe_validation(err)}") from None
    columns = {"text": reference.prompt_key, "id": reference.id_key, "category": None, "group": None}
    probes = {
        "path": reference.generations,
        "format": external_format(reference),
        "columns": columns,
        "name": "generations",
        "repeats": "merge",
        "content_note": f"the distinct prompts of {reference.generations.name}",
    }
    k = max(rows_per_prompt(ArmConfig(**a)) for a in arms)
    return {
        "name": name,
        "arms": arms,
        "reference_arm": arms[0]["name"],
        "probes": {"files": [probes], "samples_per_prompt": k},
    }
