"""``python -m harness.labels``: show posts to label, check label files, make the selection, merge, κ.

    show CHUNK [--start N] [--count N] [--unlabelled]   posts of a chunk: key, tab, text
    check FILE... [--partial]                           validate filled label files
    select [--force | --verify]                         make (once) or re-check the selection
    extend --wave1-strata FILE | --verify               make (once) or re-check wave 2 of the selection
    merge [--partial] [--out PATH]                      chunks → labels/open2ch-dev.csv
    kappa                                               Cohen's κ of the two passes

CHUNK is ``3``, ``chunk-3``, ``second-pass`` or a path to a label file.
Errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

from harness.errors import HarnessError, InputError
from harness.labels.labelfile import LABEL_COLUMNS, LABEL_DIR, MERGED, guideline_version, parse_key, read_table
from harness.labels.posts import DEFAULT_CORPUS, REPO, post_text, read_corpus

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def resolve(chunk: str) -> Path:
    """The label file a CHUNK argument names: ``3`` / ``chunk-3`` / ``second-pass`` / a path."""
    if chunk.isdigit():
        return LABEL_DIR / f"chunk-{chunk}.csv"
    path = Path(chunk)
    return path if path.suffix == ".csv" or path.exists() else LABEL_DIR / f"{chunk}.csv"


def compact(text: str) -> str:
    """One line for a terminal: line breaks as ⏎, tabs and other control characters as spaces."""
    return _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\n", " ⏎ "))


def show(args: argparse.Namespace) -> int:
    path = resolve(args.chunk)
    rows = read_table(path, LABEL_COLUMNS)
    if args.unlabelled:
        rows = [r for r in rows if not r.cells["label"]]
    lines = read_corpus(args.corpus)
    picked = rows[args.start - 1 : args.start - 1 + args.count] if args.count else rows[args.start - 1 :]
    shown = path.relative_to(REPO) if path.is_absolute() and path.is_relative_to(REPO) else path
    print(
        f"# {path.name}: {len(rows)} posts, showing {len(picked)} from #{args.start}. Label each post on its own "
        f"text by docs/labelling.md (guideline {guideline_version()}); fill {shown}."
    )
    print("# line,post<TAB>text   (⏎ = a line break in the post)")
    for row in picked:
        key = parse_key(row, path)
        print(f"{key.line},{key.post}\t{compact(post_text(lines, key, args.corpus))}")
    return 0


def check(args: argparse.Namespace) -> int:
    from harness.labels.check import check_file
    from harness.labels.design import read_selection

    chosen = read_selection()
    for path in args.files:
        print(check_file(path, chosen, partial=args.partial))
    return 0


def select(args: argparse.Namespace) -> int:
    from harness.labels.design import make_selection, verify_selection, write_selection

    if args.verify:
        print(verify_selection(args.corpus))
        return 0
    rows, design = make_selection(args.corpus)
    write_selection(rows, design, force=args.force)
    print(f"{LABEL_DIR}: {len(rows)} posts selected; strata {design['strata']}")
    return 0


def extend(args: argparse.Namespace) -> int:
    from harness.labels.design import make_extension, verify_extension, write_extension
    from harness.labels.extension import CHUNKS, read_strata

    if args.verify:
        print(verify_extension(args.corpus))
        return 0
    if args.wave1_strata is None:
        raise InputError("extend needs --wave1-strata FILE (line,post,stratum of every post; docs/labelling.md §10)")
    strata = read_strata(args.wave1_strata)
    rows, design, cells = make_extension(strata, args.corpus)
    write_extension(rows, design, strata, cells)
    print(f"{LABEL_DIR}: wave 2 adds {sum(r.chunk in CHUNKS for r in rows)} posts; cells {design['wave2']['cells']}")
    return 0


def merge(args: argparse.Namespace) -> int:
    from harness.labels.design import read_selection
    from harness.labels.merge import merge as merge_chunks
    from harness.labels.merge import write_merged

    rows = merge_chunks(read_selection(), partial=args.partial)
    write_merged(rows, args.out)
    print(f"{args.out}: {len(rows)} labelled posts")
    return 0


def kappa(args: argparse.Namespace) -> int:
    from harness.labels.design import read_selection
    from harness.labels.merge import kappa_report

    print(kappa_report(read_selection()))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m harness.labels``."""
    p = argparse.ArgumentParser(prog="python -m harness.labels", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="print each post of a chunk: key, tab, text")
    s.add_argument("chunk")
    s.add_argument("--start", type=int, default=1, help="first post to show (1-based, default 1)")
    s.add_argument("--count", type=int, default=0, help="how many posts (default all)")
    s.add_argument("--unlabelled", action="store_true", help="only posts whose label is still blank")
    s.set_defaults(run=show)
    c = sub.add_parser("check", help="validate filled label files")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--partial", action="store_true", help="accept posts not labelled yet")
    c.set_defaults(run=check)
    m = sub.add_parser("select", help="make the selection (once, before labelling) or --verify it")
    m.add_argument("--force", action="store_true", help="remake it (refused once any label is filled in)")
    m.add_argument("--verify", action="store_true", help="remake it in memory and compare with the committed one")
    m.set_defaults(run=select)
    e = sub.add_parser("extend", help="add wave 2 to the selection (once, before its labelling) or --verify it")
    e.add_argument("--wave1-strata", type=Path, help="line,post,stratum: every post's wave-1 stratum")
    e.add_argument("--verify", action="store_true", help="remake wave 2 in memory and compare with the committed one")
    e.set_defaults(run=extend)
    g = sub.add_parser("merge", help="merge the first-pass chunks into the merged label file")
    g.add_argument("--partial", action="store_true", help="merge what is labelled so far")
    g.add_argument("--out", type=Path, default=MERGED)
    g.set_defaults(run=merge)
    k = sub.add_parser("kappa", help="Cohen's kappa between the first and the second pass")
    k.set_defaults(run=kappa)
    for each in (s, m, e):
        each.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="dev.tsv (default ../shared/...)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a ``HarnessError`` becomes one line on stderr and exit 1."""
    args = parser().parse_args(argv)
    if getattr(args, "start", 1) < 1:
        print("harness.labels: error: --start counts from 1", file=sys.stderr)
        return 1
    try:
        return args.run(args)
    except HarnessError as err:
        print(f"harness.labels: error: {err}", file=sys.stderr)
        return err.exit_code
