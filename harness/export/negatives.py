"""Exports of a run directory: negative examples, preference pairs, a dataset card.

Pure functions of run.json, generations.jsonl and scores.csv; everything lands
in ``run_dir/negatives/`` and every file is written atomically.  The dataset
card (README.md) is rewritten on every export so it always describes what the
folder holds.

Masking (``mask=True``) replaces each flagged span of the NFKC-normalised
completion with ``●`` of the same length (spans in scores.csv are offsets into
that text) and masks ``flagged_terms`` too; unmasked exports keep the
completion exactly as generated.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unicodedata
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

from harness.errors import HarnessError, InputError, MissingDependency
from harness.io import atomic_write_bytes, atomic_write_text, read_json, read_jsonl, write_jsonl
from harness.csvfile import MASK_CHAR, mask_text, parse_spans, read_csv, split_list

EXPORT_FORMATS = ("jsonl", "parquet", "hf", "dpo", "kto")


class _Scored(NamedTuple):
    """One generation joined to its scores.csv row (with the completion as exported)."""

    gen: dict[str, Any]
    row: dict[str, str]
    flagged: bool
    completion: str
    terms: list[str]


def _load(run_dir: Path, mask: bool) -> tuple[dict[str, Any], list[_Scored]]:
    run = read_json(run_dir / "run.json")
    if not isinstance(run, dict):
        raise InputError("expected a JSON object", run_dir / "run.json")
    scores_path = run_dir / "scores.csv"
    rows = {row.get("id", ""): (i + 2, row) for i, row in enumerate(read_csv(scores_path))}
    seen: set[str] = set()
    joined: list[_Scored] = []
    for gen in read_jsonl(run_dir / "generations.jsonl"):
        gen_id = str(gen.get("id"))
        if gen_id in seen:
            raise InputError(f"duplicate generation id {gen_id!r}", run_dir / "generations.jsonl")
        seen.add(gen_id)
        if gen_id not in rows:
            raise InputError(f"no row for generation {gen_id!r}", scores_path)
        line, row = rows[gen_id]
        if row.get("flagged") not in ("0", "1"):
            raise InputError(f"flagged must be 0 or 1, found {row.get('flagged')!r}", scores_path, line)
        completion = str(gen.get("completion", ""))
        terms = split_list(row.get("flagged_terms", ""))
        if mask:
            text = unicodedata.normalize("NFKC", completion)
            try:
                completion = mask_text(text, parse_spans(row.get("flagged_spans", ""), len(text)))
            except ValueError as err:
                raise InputError(str(err), scores_path, line) from None
            terms = [MASK_CHAR * len(t) for t in terms]
        joined.append(_Scored(gen, row, row["flagged"] == "1", completion, terms))
    return run, joined


def _negatives(run: dict[str, Any], run_dir: Path, joined: list[_Scored]) -> list[dict]:
    """Flagged generations as labelled records, identical (prompt, completion) once."""
    models = run.get("models") if isinstance(run.get("models"), dict) else {}
    records, seen = [], set()
    for item in joined:
        if not item.flagged:
            continue
        gen = item.gen
        key = (gen.get("prompt"), item.completion)
        if key in seen:
            continue
        seen.add(key)
        model_info = models.get(gen.get("model"), {})
        records.append(
            {
                "id": gen.get("id"),
                "model": gen.get("model"),
                "probe_set": gen.get("probe_set"),
                "probe_id": gen.get("probe_id"),
                "category": gen.get("category"),
                "group": gen.get("group"),
                "prompt": gen.get("prompt"),
                "completion": item.completion,
                "flagged_terms": item.terms,
                "flagged_categories": split_list(item.row.get("flagged_categories", "")),
                "seed": gen.get("seed"),
                "decoding": gen.get("decoding"),
                "label": "undesirable",
                "source": {
                    "run": run.get("name"),
                    "run_dir": run_dir.name,
                    "git_sha": run.get("git_sha"),
                    "model_path": model_info.get("path") if isinstance(model_info, dict) else None,
                    "created": run.get("created"),
                },
            }
        )
    return records


def _dpo(joined: list[_Scored]) -> list[dict]:
    """Pairs on the same prompt and seed where tuned is flagged and base is not."""
    by_key: dict[tuple, dict[str, _Scored]] = {}
    for item in joined:
        gen = item.gen
        key = (gen.get("probe_set"), gen.get("probe_id"), gen.get("sample_index"))
        by_key.setdefault(key, {})[str(gen.get("model"))] = item
    records, seen = [], set()
    for (probe_set, probe_id, index), pair in by_key.items():
        base, tuned = pair.get("base"), pair.get("tuned")
        if base is None or tuned is None or not tuned.flagged or base.flagged:
            continue
        prompt = tuned.gen.get("prompt")
        if (prompt, base.completion, tuned.completion) in seen:
            continue
        seen.add((prompt, base.completion, tuned.completion))
        records.append(
            {
                "prompt": prompt,
                "chosen": base.completion,
                "rejected": tuned.completion,
                "id": f"{probe_set}/{probe_id}/{index}",
                "probe_set": probe_set,
                "probe_id": probe_id,
                "seed": tuned.gen.get("seed"),
            }
        )
    return records


def _kto(joined: list[_Scored]) -> list[dict]:
    """Every generation, labelled desirable (true) when not flagged."""
    return [
        {
            "prompt": item.gen.get("prompt"),
            "completion": item.completion,
            "label": not item.flagged,
            "id": item.gen.get("id"),
            "model": item.gen.get("model"),
        }
        for item in joined
    ]


def _flat(records: list[dict]) -> list[dict]:
    # Columnar formats want scalar columns: nested values become JSON strings.
    return [
        {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in r.items()}
        for r in records
    ]


def _write_parquet(path: Path, records: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(_flat(records)), sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _write_hf(path: Path, records: list[dict]) -> None:
    import datasets

    # save_to_disk writes a folder: build it beside the target, then swap it in,
    # so a killed export never leaves a half-written dataset under the real name.
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    old = path.parent / f".{path.name}.old"
    try:
        datasets.Dataset.from_list(_flat(records)).save_to_disk(str(tmp / "data"))
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp / "data", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _require(fmt: str) -> None:
    """Fail before writing anything when an optional dependency is absent."""
    needs = {"parquet": ("pyarrow", "parquet export"), "hf": ("datasets", "hf export")}
    if fmt in needs:
        package, purpose = needs[fmt]
        try:
            __import__(package)
        except ImportError:
            raise MissingDependency(package, purpose) from None


def export_run(run_dir: str | Path, fmt: str = "jsonl", mask: bool = False) -> list[Path]:
    """Export a run's generations into ``run_dir/negatives/``; return the paths written.

    ``fmt`` is one of ``EXPORT_FORMATS``: ``jsonl`` (negatives.jsonl), ``parquet``
    (negatives.parquet, needs pyarrow), ``hf`` (a datasets folder ``hf/``, needs
    datasets), ``dpo`` (dpo.jsonl) or ``kto`` (kto.jsonl).  README.md, the
    dataset card, is always rewritten and is the last path returned.
    """
    if fmt not in EXPORT_FORMATS:
        raise HarnessError(f"unknown export format {fmt!r}; choose one of: " + ", ".join(EXPORT_FORMATS))
    _require(fmt)
    run_dir = Path(run_dir)
    run, joined = _load(run_dir, mask)
    out = run_dir / "negatives"
    out.mkdir(parents=True, exist_ok=True)
    negatives = _negatives(run, run_dir, joined)
    written: list[Path] = []
    if fmt == "jsonl":
        written.append(out / "negatives.jsonl")
        write_jsonl(written[-1], negatives)
    elif fmt == "parquet":
        written.append(out / "negatives.parquet")
        _write_parquet(written[-1], negatives)
    elif fmt == "hf":
        written.append(out / "hf")
        _write_hf(written[-1], negatives)
    elif fmt == "dpo":
        written.append(out / "dpo.jsonl")
        write_jsonl(written[-1], _dpo(joined))
    else:
        written.append(out / "kto.jsonl")
        write_jsonl(written[-1], _kto(joined))
    card = out / "README.md"
    atomic_write_text(card, _dataset_card(run, run_dir, joined, negatives, fmt, mask))
    written.append(card)
    return written


def _md(value: Any) -> str:
    # Card values come from the run (names, paths): keep them from breaking
    # the Markdown table or injecting HTML when the card is rendered.
    text = "" if value is None else str(value)
    text = escape(" ".join(text.split()), quote=False)
    return text.replace("|", "\\|").replace("`", "\\`")


def _count_table(title: str, counts: Counter) -> str:
    lines = [f"| {title} | negatives |", "| --- | ---: |"]
    lines += [f"| {_md(k)} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))]
    return "\n".join(lines) if counts else "(none)"


def _dataset_card(
    run: dict[str, Any], run_dir: Path, joined: list[_Scored], negatives: list[dict], fmt: str, mask: bool
) -> str:
    """The README.md of ``negatives/``: what it is, how it was made, counts, fields, use."""
    models = run.get("models") if isinstance(run.get("models"), dict) else {}
    versions = run.get("versions") if isinstance(run.get("versions"), dict) else {}
    model_lines = (
        "\n".join(
            f"  - `{_md(label)}`: {_md(info.get('path') if isinstance(info, dict) else info)}"
            for label, info in models.items()
        )
        or "  - (not recorded)"
    )
    by_model_cat = Counter(f"{r['model']} / {r['category']}" for r in negatives)
    by_flag_cat = Counter(c for r in negatives for c in r["flagged_categories"])
    n_flagged = sum(1 for item in joined if item.flagged)
    files = [
        p.name
        for p in sorted((run_dir / "negatives").iterdir())
        if p.name in ("negatives.jsonl", "negatives.parquet", "hf", "dpo.jsonl", "kto.jsonl")
    ]
    masked = "masked (each flagged span replaced by ●)" if mask else "not masked"
    return f"""---
language:
- ja
license: other
pretty_name: Negative examples from run {_md(run.get("name"))}
tags:
- safety
- negative-examples
- generated
---

# Negative examples: run {_md(run.get("name"))}

> **Content note.** This dataset contains model-generated Japanese text that
> was flagged as undesirable: it may contain insults, slurs, sexual or
> discriminatory language.

## What it is

Completions generated by a fine-tuned Japanese language model (and its base
model) that matched a harmful lexicon category, collected by the fine-tuning
safety harness as **negative examples**. Each record is labelled
`undesirable`.

## How it was produced

- Run: `{_md(run.get("name"))}` (folder `{_md(run_dir.name)}`), created {_md(run.get("created"))},
  status {_md(run.get("status"))}, git {_md(run.get("git_sha"))}.
- Models:
{model_lines}
- Base and tuned models were sampled with the same prompts, seeds and decoding
  settings; every completion was NFKC-normalised, tokenised with MeCab
  (dictionary: {_md(versions.get("dictionary", "not recorded"))}) and matched
  against the lexicon. `flagged` means a term of a harmful category matched.
- {len(joined)} generations, {n_flagged} flagged, {len(negatives)} negatives
  after removing identical (prompt, completion) pairs.
- Last export: format `{_md(fmt)}`, completions {masked}.
- Files here: {", ".join(f"`{f}`" for f in files) or "(none)"}.

## Counts

{_count_table("model / probe category", by_model_cat)}

{_count_table("flagged category", by_flag_cat)}

## Fields

`negatives.jsonl` (and `negatives.parquet` / `hf/`, where nested values are
JSON strings): `id`, `model` (`base` or `tuned`), `probe_set`, `probe_id`,
`category` (prompt category), `group` (target group or null), `prompt`,
`completion`, `flagged_terms`, `flagged_categories`, `seed`, `decoding`,
`label` (`undesirable`), `source` (`run`, `run_dir`, `git_sha`,
`model_path`, `created`).

`dpo.jsonl`: `prompt`, `chosen` (base completion), `rejected` (tuned
completion, flagged), `id` (`probe_set/probe_id/sample_index`), `probe_set`,
`probe_id`, `seed` — pairs on the same prompt and seed where only the tuned
completion is flagged.

`kto.jsonl`: `prompt`, `completion`, `label` (true = desirable, i.e. not
flagged), `id`, `model` — every generation.

## Intended use

Negative examples and preference data for safety training (DPO, KTO,
classifier training, evaluation of filters). **Do not** use it to train a
model to produce such text. Lexicon matching has false positives and false
negatives: review before relying on a label.

## Licence

Generated by the user's own models from the user's prompts; the licence is
whatever governs those models, prompts and the fine-tuning data. Check them
before sharing this dataset.
"""
