"""Pair rules: sexual harassment, doxxing, threats and urged self-harm said with ordinary words.

「胸揉ませろ」, 「下着の写真送って」, 「こいつの住所晒しとくわ」 hold no harmful
word: 胸, 揉む, 下着, 送る, 住所 and 晒す are each harmless.  The harm is the
pair, in one sentence, and the way the verb is said.  This layer reads a
small lexicon file (``probes/lexicons/pair_rules.yaml``,
``analysis.pair_rules``) whose categories are the roles of ``PAIRS``, never
words written into code:

* **sexual**: a ``sexual_thing`` (a body part or garment: 胸, お尻, 下着)
  and, after it in the same sentence, a ``sexual_act`` (揉む, 触る, 見せる,
  送る …) that the writer *wants, asks or orders* (``wanted``): + たい, an
  imperative (揉ませろ), a request (触らせてよ, 見せてくれたら, 送って ending
  the sentence), a wish (触ってほしい) or a volitional (揉もうか).  Said any
  other way it is talk about bodies (胸が苦しい, 下着を買いに行った), and
  with a body word that is not sexual it is care (肩揉んで: 肩 is no
  ``sexual_thing``).
* **doxxing**: a ``personal_info`` word (住所, 本名, 勤務先) and, after it in
  the same sentence, an ``exposure`` verb (晒す, 拡散, 特定, 貼る) that is
  *done* (``done``): not negated (晒さない), not passive (住所特定されて: the
  writer is the victim), not forbidden (晒すな) and not talked about as a
  thing (晒すのはやめよう, 特定すること).

Three acts need no thing: they are harmful by the way they are said.

* **threat**: a ``violent_act`` (殴る, 蹴り飛ばす, 轢く, 突き落とす) the
  writer announces as their own (``intended``): + てやる in any form but a
  negative or a past (殴ってやる, 折ってやろうか, 轢き殺してやりたい), or a
  plain form + ぞ.  殴り合いのシーン or 殴ってやった is not one.
* **self_harm**: a ``self_harm_act`` (死ぬ, 自殺, 飛び降りる) urged on
  someone else (``urged``): an imperative, …ばいい, …たら？/…たらいい,
  a 連用形 + な (自殺しなよ), …とけ (死んどけ), て + an order, てくれ or
  てほしい (死んで詫びろ).  Not たい (死にたい is the writer's own
  distress), not the prohibition 死ぬな, and not when a first person comes
  before it in its sentence with no one else named (俺なんか死ねばいい).
* **harassment**: a ``leave_act`` (消える, いなくなる, 失せる) urged the same
  way, unless a thing is its subject (痛みが消えればいい).

A match is a ``FlagMatch`` from the start of the thing (or the act) to the
end of the verb, with the lexicon's category of its pair (``sexual``;
``harassment`` for doxxing, as the lexicon files 晒す and 特定する) and
``via="pair"``: the ``detectors`` column names it ``pair``.  Matches that overlap a lexicon
match are dropped (the post is flagged already, and spans never overlap).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.analysis.context_rules import TARGET_WORDS, self_directed, sentence_bounds
from harness.analysis.lexicon import Category, Lexicon, build_lexicon
from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.config import AnalysisConfig
from harness.data.lexicon_file import LexiconError, read_lexicon_file

VIA = "pair"  # FlagMatch.via of a pair-rule match; the detectors column's name for it
# the flag scan (``harness.analysis.flagged.find_flags``), passed in: that module calls this one
Scan = Callable[[Sequence[Token], Lexicon, str], list[Any]]


@dataclass(frozen=True)
class Pair:
    """A thing role (None: the act alone), an act role, the lexicon category a match takes, and how the act
    must be said (a key of ``FORMS``)."""

    thing: str | None
    act: str
    category: str
    form: str
    thing_subject_ok: bool = True  # False: a thing as the act's subject unaims it (痛みが消えればいい)


PAIRS = (
    Pair("sexual_thing", "sexual_act", "sexual", "wanted"),
    Pair("personal_info", "exposure", "harassment", "done"),
    Pair(None, "violent_act", "threat", "intended"),
    Pair(None, "self_harm_act", "self_harm", "urged"),
    Pair(None, "leave_act", "harassment", "urged", thing_subject_ok=False),
)
ROLES = tuple(role for pair in PAIRS for role in (pair.thing, pair.act) if role)
# the roles without which a text cannot match: each pair's thing, or its act when it has none
NEEDED = frozenset(pair.thing or pair.act for pair in PAIRS)


@dataclass(frozen=True)
class PairRules:
    """The loaded layer: its vocabulary (one lexicon, a category per role) and the category of each pair."""

    vocabulary: Lexicon
    things: Lexicon  # the NEEDED roles alone: a text with none of them cannot match (rare words: the cheap test)
    categories: dict[str, Category]  # pair category name → the flag lexicon's category
    scan: Scan

    def add_matches(self, tokens: Sequence[Token], text: str, flags: list[Any]) -> list[Any]:
        """``flags`` plus the pair matches that overlap none of them, in text order."""
        found = find_pairs(tokens, text, self, flags)
        return sorted([*flags, *found], key=lambda f: f.start) if found else flags


def rules_for(config: AnalysisConfig, tokenizer: JapaneseTokenizer, scan: Scan, lexicon: Lexicon) -> PairRules | None:
    """The layer ``config`` asks for (``analysis.pair_rules``), flagging in ``lexicon``'s categories; None if off."""
    files = config.pair_rule_files()
    return load_pair_rules(files[0], tokenizer, scan, lexicon) if files else None


def load_pair_rules(path: str | Path, tokenizer: JapaneseTokenizer, scan: Scan, lexicon: Lexicon) -> PairRules:
    """Read the vocabulary file; errors name the file (``LexiconError``): the roles of ``PAIRS`` exactly,
    each a topic category, and every pair's category harmful in ``lexicon``."""
    spec = read_lexicon_file(path)
    missing = [role for role in ROLES if role not in spec.categories]
    unknown = [name for name in spec.categories if name not in ROLES]
    if missing or unknown:
        raise LexiconError(f"a pair-rules file has the categories {', '.join(ROLES)} (missing {missing}, "
                           f"unknown {unknown})", path)  # fmt: skip
    harmful = [name for name, cat in spec.categories.items() if cat.severity != "topic"]
    if harmful:
        raise LexiconError(f"pair-rule categories are roles, severity topic (not {harmful})", path)
    categories = {}
    for pair in PAIRS:
        found = lexicon.categories.get(pair.category)
        if found is None or found.severity != "harmful":
            raise LexiconError(f"pair rules flag as '{pair.category}', which the lexicon has not as harmful", path)
        categories[pair.category] = found

    def only(roles: set[str]) -> Lexicon:
        return build_lexicon(dataclasses.replace(spec, terms=[t for t in spec.terms if t.category in roles]), tokenizer)

    return PairRules(build_lexicon(spec, tokenizer), only(set(NEEDED)), categories, scan)


def find_pairs(tokens: Sequence[Token], text: str, rules: PairRules, taken: Sequence[Any] = ()) -> list[Any]:
    """The pair matches (``FlagMatch`` es) of ``tokens``, none overlapping ``taken`` or each other."""
    hits = rules.scan(tokens, rules.vocabulary, text)
    if not hits:
        return []
    tokens = list(tokens)
    first_of = {t.start: i for i, t in enumerate(tokens)}
    last_of = {t.end: i for i, t in enumerate(tokens)}
    out: list[Any] = []
    for pair in PAIRS:
        things = [h for h in hits if h.category == pair.thing]
        for act in (h for h in hits if h.category == pair.act) if things or not pair.thing else ():
            first, last = first_of[act.start], last_of[act.end]
            if _subsidiary(tokens, first) or not FORMS[pair.form](tokens, last):
                continue
            if pair.thing:
                thing = _thing_before(tokens, text, things, first_of, first)
            else:
                thing = None if _unaimed(tokens, first, last, pair) else act
            if thing is None:
                continue
            match = _match(thing, act, rules.categories[pair.category])
            if not any(match.start < f.end and f.start < match.end for f in (*taken, *out)):
                out.append(match)
    return out


def _unaimed(tokens: list[Token], first: int, last: int, pair: Pair) -> bool:
    """An act urged on no one else: the writer's own (俺なんか死ねばいい), or, where ``pair`` says so, with a
    thing as its subject (痛みが消えればいい: a noun + が/は/も before it in its sentence, not a target word)."""
    if pair.form == "urged" and self_directed(tokens, first, last):
        return True
    if pair.thing_subject_ok:
        return False
    lo, _ = sentence_bounds(tokens, first, last)
    return any(
        tokens[k].surface in _SUBJECT_MARKERS and tokens[k].pos1 == "助詞" and tokens[k - 1].pos1 == "名詞"
        and tokens[k - 1].surface not in TARGET_WORDS and tokens[k - 1].lemma not in TARGET_WORDS
        for k in range(max(lo, 1), first)
    )  # fmt: skip


def _match(thing: Any, act: Any, category: Category) -> Any:
    """One match over the thing and the act, named by both (胸+揉む); an act alone by itself (+殴る)."""
    term = f"{thing.term}+{act.term}" if thing is not act else f"+{act.term}"
    return dataclasses.replace(
        act, term=term, category=category.name, weight=category.weight,
        start=thing.start, via=VIA, context=False,
    )  # fmt: skip


def _thing_before(tokens: list[Token], text: str, things: list[Any], first_of: dict, act_first: int) -> Any | None:
    """The nearest thing before the act's first token in its sentence (a line break ends one too), or None."""
    lo, _ = sentence_bounds(tokens, act_first, act_first)
    act_start = tokens[act_first].start
    before = [
        t for t in things if t.end <= act_start and first_of[t.start] >= lo and "\n" not in text[t.end : act_start]
    ]
    return max(before, key=lambda t: t.start, default=None)


_CAUSATIVE = frozenset({"せる", "させる"})  # 揉ませろ, 触らせて: asking to be let do it
_PASSIVE = frozenset({"れる", "られる"})
_TE = frozenset({"て", "で"})
_ASKING = frozenset({"下さる", "欲しい", "貰う", "頂く"})  # lemmas after て: 見せてください, 触ってほしい
_GIVING = "呉れる"  # after て, asking only as an order or a condition: 見せてくれ, 見せてくれたら (not 舐めてくれる)
_IF = frozenset({"たら", "ない", "ませ", "ば"})  # くれたら, くれない?, くれません?, くれれば
_HYPOTHETICAL = frozenset({"なら", "ば", "か"})  # after たい: 触りたいなら, 見たいか (no wish of the writer's)
_ASKING_ENDINGS = frozenset({"よ", "ね", "や", "な"})  # 送ってよ, 見せてや
_NEGATIONS = frozenset({"ない", "無い", "ぬ", "ず"})
_NOMINALISERS = frozenset({"の", "こと", "事"})  # 晒すのは, 特定すること: the act talked about


_SUBJECT_MARKERS = frozenset({"が", "は", "も"})
_HELPERS = frozenset({"見る"})  # the acts that also help a verb before them, after て/で: try doing (考えてみろ)


def _subsidiary(tokens: list[Token], first: int) -> bool:
    """The act is 見る helping the verb before it (考えてみろ, 見てみたい): no act of its own."""
    if first == 0 or tokens[first].lemma not in _HELPERS:
        return False
    return tokens[first - 1].surface in _TE and tokens[first - 1].pos1 == "助詞"


def _after_verb(tokens: list[Token], last: int) -> int:
    """The first token after the act ending at ``last``: past a する of a noun act (特定+し) and a causative."""
    k = last + 1
    if tokens[last].pos1 == "名詞" and k < len(tokens) and tokens[k].lemma == "為る":
        k += 1
    while k < len(tokens) and tokens[k].lemma in _CAUSATIVE:
        k += 1
    return k


def wanted(tokens: list[Token], last: int) -> bool:
    """The verb ending at ``last`` is wished (たい, てほしい), asked (てくれ, て/てよ ending the sentence),
    ordered (an imperative) or proposed (a volitional), by itself or in its causative (揉ませろ)."""
    k = _after_verb(tokens, last)
    verb = tokens[k - 1]
    if verb.c_form.startswith(("命令形", "意志推量形")):
        return True
    if k >= len(tokens):
        return False
    nxt = tokens[k]
    if nxt.lemma == "たい" and nxt.pos1 == "助動詞":
        hypothetical = nxt.c_form.startswith("仮定形") or (
            k + 1 < len(tokens) and tokens[k + 1].surface in _HYPOTHETICAL
        )
        return not hypothetical
    if nxt.surface not in _TE or nxt.pos1 != "助詞":
        return False
    if k + 1 >= len(tokens) or tokens[k + 1].surface in ("。", "!", "?", "、"):
        return True
    after = tokens[k + 1]
    if after.lemma == _GIVING:
        return after.c_form.startswith("命令形") or (k + 2 < len(tokens) and tokens[k + 2].surface in _IF)
    return (after.lemma in _ASKING and not _negated_at(tokens, k + 2)) or after.surface in _ASKING_ENDINGS


def _negated_at(tokens: list[Token], k: int) -> bool:
    """Token ``k`` negates what comes before it (触ってほしくない, 死んで欲しく無かった)."""
    return k < len(tokens) and tokens[k].lemma in _NEGATIONS and tokens[k].pos1 in ("助動詞", "形容詞")


def done(tokens: list[Token], last: int) -> bool:
    """The act ending at ``last`` is said as done or to be done: not negated, passive, forbidden (…すな)
    or nominalised (…すのは, …すること)."""
    k = _after_verb(tokens, last)
    if k >= len(tokens):
        return True
    nxt = tokens[k]
    if nxt.lemma in _PASSIVE or (nxt.lemma in _NEGATIONS and nxt.pos1 in ("助動詞", "形容詞")):
        return False
    if nxt.surface in _NOMINALISERS and nxt.pos1 in ("助詞", "名詞"):
        return False
    return not (nxt.surface == "な" and nxt.pos2 == "終助詞" and tokens[k - 1].c_form.startswith("終止形"))


_INTENT = "遣る"  # after て: the writer does it to someone (殴ってやる)
_PAST = "た"
_GOOD = "良い"  # …ばいい, …たらいい
_QUESTION = frozenset({"?", "？"})
_LEAVE_IT = "とく"  # 死んどけ: ておく, contracted


def intended(tokens: list[Token], last: int) -> bool:
    """The act ending at ``last`` is announced as the writer's own deed: + てやる in any form but a negative
    or a past (殴ってやる, 折ってやろうか, 轢き殺してやりたい), or a plain form + ぞ (蹴るぞ)."""
    k = _after_verb(tokens, last)
    if k >= len(tokens):
        return False
    nxt = tokens[k]
    if nxt.surface == "ぞ" and nxt.pos1 == "助詞":
        return tokens[k - 1].c_form.startswith("終止形")
    if nxt.surface not in _TE or nxt.pos1 != "助詞" or k + 1 >= len(tokens) or tokens[k + 1].lemma != _INTENT:
        return False
    return not (k + 2 < len(tokens) and (tokens[k + 2].lemma in _NEGATIONS or tokens[k + 2].lemma == _PAST))


def urged(tokens: list[Token], last: int) -> bool:
    """The act ending at ``last`` is urged on someone: an imperative (飛び降りろ), …ばいい (消えればいい),
    …たら？ or …たらいい (死んだら？), a 連用形 + な (自殺しなよ; not 死ぬな), …とけ (死んどけ), or て + an
    order, てくれ or てほしい (死んで詫びろ, いなくなってくれ)."""
    k = _after_verb(tokens, last)
    verb = tokens[k - 1]
    if verb.c_form.startswith("命令形"):
        return True
    if k >= len(tokens):
        return False
    nxt, after = tokens[k], tokens[k + 1] if k + 1 < len(tokens) else None
    if nxt.surface == "ば" and verb.c_form.startswith("仮定形"):
        return after is not None and after.lemma == _GOOD
    if nxt.lemma == _PAST and nxt.c_form.startswith("仮定形"):
        return after is None or after.surface in _QUESTION or after.lemma == _GOOD
    if nxt.surface == "な" and nxt.pos2 == "終助詞":
        return verb.c_form.startswith("連用形")
    if nxt.lemma == _LEAVE_IT:
        return nxt.c_form.startswith("命令形")
    if nxt.surface not in _TE or nxt.pos1 != "助詞" or after is None:
        return False
    if after.lemma == _GIVING:
        return after.c_form.startswith("命令形") or (k + 2 < len(tokens) and tokens[k + 2].surface in _IF)
    return after.c_form.startswith("命令形") or (after.lemma in _ASKING and not _negated_at(tokens, k + 2))


FORMS: dict[str, Callable[[list[Token], int], bool]] = {
    "wanted": wanted, "done": done, "intended": intended, "urged": urged,
}  # fmt: skip
