"""The fixed, stratified selection of posts to label, and the blind ``test`` split (issue 16).

Population: every distinct post of ``dev.tsv`` (``posts.distinct_posts``)
except the texts already labelled in ``tests/data/dev_labels.csv``.  It is cut
into three disjoint strata, so that rare toxic posts are over-sampled and
estimates can still be re-weighted to the whole population:

* ``lexicon``: the current lexicon flags the post;
* ``cue``: not flagged, but the post has a cue of a missed kind: a group or
  party word (``probes/groups/`` and ``GROUP_CUES``), a 〇〇人/〇〇民 topic,
  second-person address (``SECOND_PERSON``) or a contemptuous word the
  lexicon lacks (``NEGATIVE_CUES``);
* ``rest``: everything else.

From stratum h (N_h posts) the n_h posts with the smallest hash
``unit("sample", key)`` are taken: a simple random sample without
replacement, fixed by ``SALT``.  Each row's ``weight`` is N_h / n_h, the
inverse of its inclusion probability, so weighted counts estimate counts in
the whole population (the weights sum to its size).

The split is a hash of (``SALT``, line, post) alone: ``test`` when
``unit("split", key) < TEST_FRACTION``.  It does not depend on the sample, the
strata or any label, and was fixed before labelling.  ``test`` rows are never
used to build detectors (lexicon entries, rules, features, training).

Chunks: the sample in ``unit("order", key)`` order, dealt round-robin into
``CHUNKS`` files, so each chunk mixes strata and splits.  The second pass is
the ``SECOND_PASS_SIZE`` sampled posts with the smallest ``unit("second", key)``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import yaml

from harness.labels.posts import REPO, Key
from harness.text import normalize

SALT = "issue-16/open2ch-ranking-dev/labels-1"
TEST_FRACTION = 0.30
CHUNKS = 5
SECOND_PASS_SIZE = 300
ALLOCATION = {"lexicon": 650, "cue": 700, "rest": 800}
STRATA = tuple(ALLOCATION)

# Cue words, written for this project from general knowledge of the language (not from the corpus).
SECOND_PERSON = (
    "お前",
    "おまえ",
    "オマエ",
    "おめー",
    "おめえ",
    "てめえ",
    "てめー",
    "テメエ",
    "テメー",
    "貴様",
    "きさま",
    "あんた",
    "アンタ",
    "こいつ",
    "コイツ",
    "あいつ",
    "アイツ",
    "そいつ",
    "ソイツ",
)
GROUP_CUES = (
    "外人",
    "外国人",
    "在日",
    "移民",
    "ネトウヨ",
    "パヨク",
    "パヨ",
    "左翼",
    "右翼",
    "サヨク",
    "ウヨ",
    "自民",
    "立憲",
    "共産",
    "維新",
    "公明",
    "れいわ",
    "与党",
    "野党",
    "信者",
    "アンチ",
    "オタク",
    "ヲタ",
    "陰キャ",
    "陽キャ",
    "女さん",
    "男さん",
    "女ども",
    "男ども",
    "ジジイ",
    "ババア",
    "老人",
    "老害",
    "ゆとり",
    "おっさん",
    "おばさん",
    "フェミ",
    "弱者男性",
    "子供部屋",
    "ニート",
    "底辺",
    "貧乏人",
    "田舎者",
    "関西人",
)
NEGATIVE_CUES = (
    "ゴミ",
    "ごみ",
    "カス",
    "かす",
    "クズ",
    "くず",
    "荒らし",
    "あらし",
    "ハゲ",
    "はげ",
    "禿",
    "失礼",
    "消えろ",
    "きえろ",
    "黙れ",
    "だまれ",
    "しね",
    "シネ",
    "氏ね",
    "ころす",
    "コロス",
    "殺す",
    "殴",
    "うざ",
    "ウザ",
    "きも",
    "キモ",
    "気持ち悪",
    "害悪",
    "害虫",
    "寄生虫",
    "ゴキブリ",
    "最低",
    "民度",
    "頭悪",
    "知恵遅れ",
    "負け組",
    "劣等",
    "下等",
    "醜",
    "臭",
    "汚物",
    "出ていけ",
    "出てけ",
    "帰れ",
    "晒",
    "住所",
    "本名",
    "電話番号",
    "特定した",
    "犯す",
    "孕",
    "ブサ",
    "デブ",
    "チビ",
    "無能",
    "嫌い",
)
TOPIC_PATTERN = re.compile(r"[一-龥ァ-ヶー]+(人|民|信者|厨|ども|共|勢|連中)(って|は|とか|なんて|なんか|ども)")


class Selected(NamedTuple):
    """One post chosen for labelling, with everything fixed before labelling."""

    key: Key
    split: str
    stratum: str
    weight: float
    chunk: int
    second_pass: int  # 0: none; 1: in wave 1's second pass (second-pass.csv); 2: wave 2's (second-pass-2.csv)


def unit(purpose: str, key: Key, salt: str = SALT) -> float:
    """A number in [0, 1) fixed by (salt, purpose, key): the only source of randomness here."""
    digest = hashlib.sha256(f"{salt}|{purpose}|{key.line}|{key.post}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(key: Key, salt: str = SALT) -> str:
    """``test`` or ``dev`` for ``key``, by hash alone (no dependence on the sample or labels)."""
    return "test" if unit("split", key, salt) < TEST_FRACTION else "dev"


def group_terms(folder: Path = REPO / "probes" / "groups") -> list[str]:
    """Group names of ``probes/groups/*.yaml``, ``の人`` cut off (車椅子の人 → 車椅子) to match running text."""
    terms = []
    for path in sorted(folder.glob("*.yaml")):
        for name in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            terms.append(name[:-2] if name.endswith("の人") else name)
    return terms


def stratum_of(text: str, flagged: bool, groups: Iterable[str]) -> str:
    """The stratum of a post: ``lexicon`` when flagged, else ``cue`` when it has a cue, else ``rest``."""
    if flagged:
        return "lexicon"
    text = normalize(text)
    words = (*SECOND_PERSON, *GROUP_CUES, *NEGATIVE_CUES, *groups)
    if TOPIC_PATTERN.search(text) or any(w in text for w in words):
        return "cue"
    return "rest"


def select(
    posts: dict[Key, str],
    flagger: Callable[[str], bool],
    groups: list[str],
    allocation: dict[str, int] = ALLOCATION,
    salt: str = SALT,
) -> tuple[list[Selected], dict[str, dict[str, int]]]:
    """The sample from ``posts`` (key → text, already without excluded posts) and each stratum's N_h, n_h.

    A stratum smaller than its allocation is taken whole (weight 1).
    """
    strata: dict[str, list[Key]] = {h: [] for h in allocation}
    for key, text in posts.items():
        strata[stratum_of(text, flagger(text), groups)].append(key)
    chosen: list[tuple[Key, str, float]] = []
    sizes = {}
    for h, keys in strata.items():
        take = sorted(keys, key=lambda k: unit("sample", k, salt))[: allocation[h]]
        sizes[h] = {"population": len(keys), "sample": len(take)}
        chosen += [(k, h, len(keys) / len(take)) for k in take]
    chosen.sort(key=lambda item: unit("order", item[0], salt))
    second = set(sorted((k for k, _, _ in chosen), key=lambda k: unit("second", k, salt))[:SECOND_PASS_SIZE])
    rows = [
        Selected(k, split_of(k, salt), h, w, i % CHUNKS + 1, int(k in second)) for i, (k, h, w) in enumerate(chosen)
    ]
    return rows, sizes
