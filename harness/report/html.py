"""The self-contained HTML report: a pure function of a run directory.

Everything shown comes from run.json, generations.jsonl, scores.csv,
summary.csv and vocab_shift.csv (docs/run-directory.md); no model is loaded.
The page has inline CSS only, no script and no external URL, so it opens from
disk on an offline machine, and a Content-Security-Policy forbids any fetch or
script should an escaping bug ever let markup through.

Every piece of text from the run (completions, prompts, terms, names, paths,
config values) is untrusted and goes through ``_esc``; highlighted spans are
built from separately escaped segments, never from raw text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.io import atomic_write_text, read_json, read_jsonl
from harness.csvfile import MASK_CHAR, Span, parse_spans, read_csv

DEFAULT_MAX_PROBES = 100
DEFAULT_MAX_SAMPLES = 4
TOP_LEMMAS = 20
MODELS = ("base", "tuned")

_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg2:#f6f8fa;--bad:#b42318;--good:#067647}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Hiragino Sans","Noto Sans JP","Yu Gothic",sans-serif;
 color:var(--fg);margin:0 auto;max-width:1200px;padding:1.5rem;line-height:1.55}
h1{margin:.2rem 0 1rem}
h2{border-bottom:1px solid var(--line);padding-bottom:.3rem;margin-top:2.2rem}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.6rem .9rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid var(--line);padding:.3rem .6rem;vertical-align:top;text-align:left}
th{background:var(--bg2)}tbody tr:nth-child(even){background:#fbfcfd}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.n{color:var(--muted);font-size:.8rem;margin-left:.3rem}
.worse{color:var(--bad);font-weight:600}.better{color:var(--good);font-weight:600}
.shift{font-weight:600}
.badge{display:inline-block;border-radius:1rem;padding:0 .6rem;font-size:.8rem;font-weight:600;
 border:1px solid currentColor}
.pass,.complete{color:var(--good)}.fail,.failed{color:var(--bad)}.running{color:#9a6700}
.probe{border:1px solid var(--line);border-radius:8px;margin:1rem 0;padding:.6rem .9rem}
.prompt{background:var(--bg2);border-radius:6px;padding:.4rem .6rem;white-space:pre-wrap}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.8rem;margin:.6rem 0}
.pair>div{border:1px solid var(--line);border-radius:6px;padding:.4rem .6rem;min-width:0}
.pair h4{margin:0 0 .3rem;font-size:.85rem;color:var(--muted)}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
mark.flag{background:#ffd7d5;color:var(--bad);border-radius:3px;padding:0 1px}
pre{background:var(--bg2);padding:.6rem;overflow:auto;font-size:.85rem}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
.muted{color:var(--muted);font-style:italic}
"""

# Measures where an increase is bad: the flag, each lexicon category, rude
# address.  Tone measures (politeness, questions …) only get a neutral highlight.
_HARMFUL_EXTRA = ("flagged", "rough_second_person")


def is_harmful_measure(measure: str) -> bool:
    """True for measures whose increase in the tuned model is a safety concern."""
    return measure in _HARMFUL_EXTRA or measure.startswith("cat_")


def _esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


@dataclass
class _Run:
    path: Path
    run: dict[str, Any]
    generations: list[dict[str, Any]]
    scores: dict[str, tuple[int, dict[str, str]]]  # id -> (line in scores.csv, row)
    summary: list[dict[str, str]]
    vocab: list[dict[str, str]]
    audit: dict[str, tuple[int, dict[str, str]]]  # measure -> (line, row); empty without corpus_audit.csv


def _load(run_dir: Path) -> _Run:
    run = read_json(run_dir / "run.json")
    if not isinstance(run, dict):
        raise InputError("expected a JSON object", run_dir / "run.json")
    generations = read_jsonl(run_dir / "generations.jsonl")
    scores_path = run_dir / "scores.csv"
    scores: dict[str, tuple[int, dict[str, str]]] = {}
    for index, row in enumerate(read_csv(scores_path)):
        scores[row.get("id", "")] = (index + 2, row)  # +2: header is line 1
    audit: dict[str, tuple[int, dict[str, str]]] = {}
    if (run_dir / "corpus_audit.csv").is_file():  # optional: absent for probe-only runs
        for index, row in enumerate(read_csv(run_dir / "corpus_audit.csv")):
            audit[row.get("measure", "")] = (index + 2, row)
    return _Run(
        run_dir,
        run,
        generations,
        scores,
        read_csv(run_dir / "summary.csv"),
        read_csv(run_dir / "vocab_shift.csv"),
        audit,
    )


def _number(row: dict[str, str], key: str, path: Path, line: int) -> float | None:
    text = row.get(key, "")
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"column {key!r}: not a number: {text!r}", path, line) from None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}"


def _rate_cell(row: dict[str, str] | None, path: Path, line: int) -> str:
    if row is None:
        return '<td class="num">–</td>'
    rate, low, high = (_number(row, k, path, line) for k in ("rate", "ci_low", "ci_high"))
    return (
        f'<td class="num">{_pct(rate)}% [{_pct(low)}–{_pct(high)}]'
        f'<span class="n">{_esc(row.get("count"))}/{_esc(row.get("n"))}</span></td>'
    )


def _delta_cell(row: dict[str, str] | None, measure: str, path: Path, line: int) -> str:
    if row is None:
        return '<td class="num">–</td>'
    rate, low, high = (_number(row, k, path, line) for k in ("rate", "ci_low", "ci_high"))

    def pp(v: float | None) -> str:
        return "–" if v is None else f"{v * 100:+.1f}"

    css = ""
    excludes_up = low is not None and low > 0
    excludes_down = high is not None and high < 0
    if is_harmful_measure(measure):
        css = "worse" if excludes_up else "better" if excludes_down else ""
    elif excludes_up or excludes_down:
        css = "shift"
    # A comma separates the bounds: an en dash next to signed numbers misreads.
    return (
        f'<td class="num {css}">{pp(rate)} pp [{pp(low)}, {pp(high)}]<span class="n">n={_esc(row.get("n"))}</span></td>'
    )


def _kv_table(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _run_section(run: dict[str, Any]) -> str:
    status = str(run.get("status", "unknown"))
    status_class = re.sub(r"[^a-z]", "", status.lower())
    meta = _kv_table(
        [
            ("created", run.get("created")),
            ("finished", run.get("finished")),
            ("git sha", run.get("git_sha")),
            ("seed", run.get("seed")),
        ]
    )
    models = run.get("models") if isinstance(run.get("models"), dict) else {}
    model_rows = ""
    for label, info in models.items():
        info = info if isinstance(info, dict) else {}
        params = info.get("parameters")
        shown = f"{params:,} ({params / 1e6:.1f}M)" if isinstance(params, int) else params
        model_rows += (
            f'<tr><td>{_esc(label)}</td><td>{_esc(info.get("path"))}</td><td class="num">{_esc(shown)}</td></tr>'
        )
    versions = run.get("versions") if isinstance(run.get("versions"), dict) else {}
    config = json.dumps(run.get("config", {}), ensure_ascii=False, indent=2)
    return (
        f'<h2>Run</h2><p>Status: <span class="badge {status_class}">{_esc(status)}</span>'
        f" · dictionary: <strong>{_esc(versions.get('dictionary', 'not recorded'))}</strong></p>"
        + meta
        + "<h3>Models</h3><table><tr><th>model</th><th>path</th>"
        + f'<th class="num">parameters</th></tr>{model_rows}</table>'
        + "<h3>Versions</h3>"
        + _kv_table(list(versions.items()))
        + f"<details><summary>Resolved config</summary><pre>{_esc(config)}</pre></details>"
    )


def _gates_section(run: dict[str, Any]) -> str:
    gates = run.get("gates")
    if not isinstance(gates, dict):
        return "<h2>Gates</h2><p>The gate stage has not run.</p>"
    passed = bool(gates.get("passed"))
    rows = ""
    for result in gates.get("results") or []:
        ok = bool(result.get("passed"))
        rows += (
            f"<tr><td>{_esc(result.get('measure'))}</td><td>{_esc(result.get('probe_category'))}"
            f"</td><td>{_esc(result.get('kind'))}</td>"
            f'<td class="num">{_esc(result.get("threshold"))}</td>'
            f'<td class="num">{_esc(result.get("value"))} [{_esc(result.get("ci_low"))}, '
            f"{_esc(result.get('ci_high'))}]</td>"
            f'<td><span class="badge {"pass" if ok else "fail"}">'
            f"{'pass' if ok else 'FAIL'}</span></td></tr>"
        )
    return (
        f'<h2>Gates</h2><p><span class="badge {"pass" if passed else "fail"}">'
        f"{'all gates passed' if passed else 'gate failed'}</span></p>"
        "<table><tr><th>measure</th><th>probe category</th><th>kind</th>"
        f'<th class="num">threshold</th><th class="num">value [CI]</th><th>result</th></tr>'
        f"{rows}</table>"
    )


def _finetune_section(run: dict[str, Any]) -> str:
    ft = run.get("finetune")
    if not isinstance(ft, dict):
        return ""

    def arrow(key: str) -> str:
        before, after = ft.get(f"{key}_before"), ft.get(f"{key}_after")
        fmt = lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else _esc(v)  # noqa: E731
        return f'<td class="num">{fmt(before)} → {fmt(after)}</td>'

    counts = "".join(
        f'<tr><th>{_esc(k)}</th><td class="num">{_esc(ft.get(k))}</td></tr>'
        for k in ("train_docs", "val_docs", "train_tokens", "steps")
        if k in ft
    )
    return (
        f"<h2>Fine-tuning</h2><table><tr><th>eval loss</th>{arrow('eval_loss')}</tr>"
        f"<tr><th>perplexity</th>{arrow('perplexity')}</tr>{counts}</table>"
    )


def _summary_section(data: _Run) -> str:
    path = data.path / "summary.csv"
    index: dict[tuple[str, str, str, str], tuple[int, dict[str, str]]] = {}
    measures: dict[str, None] = {}
    categories: dict[str, None] = {"all": None}
    for i, row in enumerate(data.summary):
        key = (row.get("kind", ""), row.get("model", ""), row.get("probe_category", ""), row.get("measure", ""))
        index[key] = (i + 2, row)
        measures.setdefault(key[3])
        categories.setdefault(key[2])

    audit_path = data.path / "corpus_audit.csv"

    def table(category: str) -> str:
        # the tuning corpus's own rate: what the tuned model could amplify
        with_corpus = category == "all" and bool(data.audit)
        body = ""
        for measure in measures:
            cells = ""
            if with_corpus:
                line, row = data.audit.get(measure, (0, None))
                cells += _rate_cell(row, audit_path, line)
            for kind, model in (("rate", "base"), ("rate", "tuned"), ("delta", "tuned-base")):
                line, row = index.get((kind, model, category, measure), (0, None))
                cells += _rate_cell(row, path, line) if kind == "rate" else _delta_cell(row, measure, path, line)
            body += f"<tr><td>{_esc(measure)}</td>{cells}</tr>"
        corpus_head = '<th class="num">tuning corpus [95% CI]</th>' if with_corpus else ""
        return (
            f'<table><tr><th>measure</th>{corpus_head}<th class="num">base rate [95% CI]</th>'
            '<th class="num">tuned rate [95% CI]</th>'
            f'<th class="num">Δ tuned−base [95% CI]</th></tr>{body}</table>'
        )

    parts = [
        "<h2>Summary</h2><p>Rates with 95% Wilson intervals (count/n); deltas are "
        "paired on prompt and seed, in percentage points with a bootstrap interval. "
        '<span class="worse">Red</span>: a harmful measure that rose (CI above 0).</p>',
        "<h3>All probes</h3>",
        table("all"),
    ]
    for category in categories:
        if category != "all":
            parts.append(f"<details><summary>Probe category: {_esc(category)}</summary>{table(category)}</details>")
    return "".join(parts)


def _vocab_section(data: _Run, masked_terms: set[str]) -> str:
    path = data.path / "vocab_shift.csv"
    rows = [(_number(r, "z", path, i + 2) or 0.0, r) for i, r in enumerate(data.vocab)]

    def table(selected: list[tuple[float, dict[str, str]]]) -> str:
        body = ""
        for z, row in selected:
            lemma = row.get("lemma", "")
            shown = MASK_CHAR * len(lemma) if lemma in masked_terms else lemma
            body += (
                f"<tr><td>{_esc(shown)}</td><td>{_esc(row.get('pos'))}</td>"
                f'<td class="num">{_esc(row.get("count_base"))}</td>'
                f'<td class="num">{_esc(row.get("count_tuned"))}</td>'
                f'<td class="num">{z:+.2f}</td></tr>'
            )
        return (
            '<table><tr><th>lemma</th><th>POS</th><th class="num">base</th>'
            f'<th class="num">tuned</th><th class="num">z</th></tr>{body}</table>'
        )

    toward_tuned = sorted((r for r in rows if r[0] > 0), key=lambda r: -r[0])[:TOP_LEMMAS]
    toward_base = sorted((r for r in rows if r[0] < 0), key=lambda r: r[0])[:TOP_LEMMAS]
    return (
        "<h2>Vocabulary shift</h2><p>Log-odds z with an informative Dirichlet prior "
        f"(top {TOP_LEMMAS} each way; counts are lemma occurrences).</p>"
        f'<div class="pair"><div><h4>Toward tuned</h4>{table(toward_tuned)}</div>'
        f"<div><h4>Toward base</h4>{table(toward_base)}</div></div>"
    )


def _highlight(text: str, spans: list[Span], mask: bool) -> str:
    if not text.strip():
        # the model ended the text at once; say so rather than show a blank box
        return '<span class="muted">(empty: end of text at once)</span>'
    out, pos = [], 0
    for span in spans:
        out.append(_esc(text[pos : span.start]))
        inner = MASK_CHAR * (span.end - span.start) if mask else text[span.start : span.end]
        title = span.category if mask else f"{span.category}: {span.term}"
        slug = re.sub(r"[^a-z0-9_-]", "", span.category.lower())
        out.append(f'<mark class="flag cat-{slug}" title="{_esc(title)}">{_esc(inner)}</mark>')
        pos = span.end
    out.append(_esc(text[pos:]))
    return "".join(out)


def _spans_for(data: _Run, gen: dict[str, Any]) -> tuple[str, list[Span], dict[str, str]]:
    """NFKC text, its spans and its scores row; a missing or bad row is an InputError."""
    gen_id = str(gen.get("id"))
    if gen_id not in data.scores:
        raise InputError(f"no row for generation {gen_id!r}", data.path / "scores.csv")
    line, row = data.scores[gen_id]
    text = unicodedata.normalize("NFKC", str(gen.get("completion", "")))
    try:
        spans = parse_spans(row.get("flagged_spans", ""), len(text))
    except ValueError as err:
        raise InputError(str(err), data.path / "scores.csv", line) from None
    return text, spans, row


def _samples_section(data: _Run, mask: bool, max_probes: int | None, max_samples: int | None) -> str:
    probes: dict[tuple[str, str], dict[tuple[str, int], dict[str, Any]]] = {}
    for gen in data.generations:
        key = (str(gen.get("probe_set")), str(gen.get("probe_id")))
        index = gen.get("sample_index")
        if not isinstance(index, int):
            raise InputError(
                f"generation {gen.get('id')!r}: sample_index must be an integer", data.path / "generations.jsonl"
            )
        probes.setdefault(key, {})[(str(gen.get("model")), index)] = gen
    shown_probes = list(probes)[:max_probes]
    parts, shown = [], 0
    for probe_set, probe_id in shown_probes:
        gens = probes[(probe_set, probe_id)]
        first = next(iter(gens.values()))
        group = first.get("group")
        parts.append(
            f'<div class="probe"><h3>{_esc(probe_set)}/{_esc(probe_id)}</h3>'
            f"<p>category <strong>{_esc(first.get('category'))}</strong>"
            + (f" · group <strong>{_esc(group)}</strong>" if group else "")
            + f'</p><div class="prompt">{_esc(first.get("prompt"))}</div>'
        )
        for index in sorted({i for _, i in gens})[:max_samples]:
            cells = ""
            for model in MODELS:
                gen = gens.get((model, index))
                if gen is None:
                    cells += f"<div><h4>{model}</h4><p>(no generation)</p></div>"
                    continue
                shown += 1
                text, spans, row = _spans_for(data, gen)
                badge = ' <span class="badge fail">flagged</span>' if row.get("flagged") == "1" else ""
                heading = f"{model} · sample {index} · seed {_esc(gen.get('seed'))}{badge}"
                cells += f'<div><h4>{heading}</h4><div class="text">{_highlight(text, spans, mask)}</div></div>'
            parts.append(f'<div class="pair">{cells}</div>')
        parts.append("</div>")
    masked = "masked (●)" if mask else "shown unmasked"
    return (
        f"<h2>Samples</h2><p>Base and tuned completions side by side for the same prompt "
        f"and seed (NFKC-normalised); flagged terms are highlighted and {masked}. "
        f"Showing {len(shown_probes)} of {len(probes)} probes, {shown} of "
        f"{len(data.generations)} generations.</p>" + "".join(parts)
    )


def _masked_terms(data: _Run) -> set[str]:
    """Every flagged term and matched surface, so the vocabulary table hides them too."""
    terms: set[str] = set()
    for gen in data.generations:
        text, spans, _ = _spans_for(data, gen)
        for span in spans:
            terms.update((span.term, text[span.start : span.end]))
    return terms


def mask_flagged_default(run: dict[str, Any]) -> bool:
    """run.json ``config.analysis.mask_flagged``; masking is on when it is absent."""
    config = run.get("config")
    analysis = config.get("analysis") if isinstance(config, dict) else None
    value = analysis.get("mask_flagged", True) if isinstance(analysis, dict) else True
    return bool(value)


def render_report(
    run_dir: str | Path,
    *,
    max_probes: int | None = DEFAULT_MAX_PROBES,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    mask: bool | None = None,
) -> str:
    """The HTML report of a run directory, as one self-contained page.

    ``max_probes``/``max_samples`` limit the samples section (``None``: all).
    ``mask`` overrides run.json ``config.analysis.mask_flagged`` (default on).
    Raises ``InputError`` naming a missing or malformed input file.
    """
    data = _load(Path(run_dir))
    if mask is None:
        mask = mask_flagged_default(data.run)
    name = data.run.get("name") or Path(run_dir).name
    note = "Content note: generated text in this report may contain offensive language; " + (
        "flagged terms are masked (●)." if mask else "flagged terms are highlighted but NOT masked."
    )
    body = "".join(
        [
            f"<h1>Safety report — {_esc(name)}</h1>",
            f'<p class="note">{_esc(note)}</p>',
            _run_section(data.run),
            _gates_section(data.run),
            _finetune_section(data.run),
            _summary_section(data),
            _vocab_section(data, _masked_terms(data) if mask else set()),
            _samples_section(data, mask, max_probes, max_samples),
        ]
    )
    # CSP: no script, no network; inline styles and data: images only.
    return (
        '<!DOCTYPE html>\n<html lang="ja">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Safety report — {_esc(name)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(run_dir: str | Path, **options: Any) -> Path:
    """Render the report and write ``run_dir/report.html`` atomically; return its path."""
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, render_report(run_dir, **options))
    return path
