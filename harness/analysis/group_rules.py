"""Group contempt: a group or party as the topic of a sentence, and a contemptuous predicate about it.

Abuse of a group often has no insult aimed at a person: 「〇〇人って本当に
民度低い」, 「〇〇党は害悪」, 「〇〇なんて全員ゴミ」.  The lexicon's target
frames (``harness.analysis.context_rules``) look for a person; this layer
looks for a group.  It reads two sources, never words written into code:

* the group names of ``probes/groups/*.yaml`` (日本人, 大阪の人, 高齢者 …), and
* a small lexicon file (``probes/lexicons/negative_predicates.yaml``,
  ``analysis.group_rules``) with three categories: ``group_contempt`` (the
  contemptuous nouns, adjectives and verbs: the only harmful one),
  ``group_word`` (party, camp and crowd words the group lists lack) and
  ``group_suffix`` (人, 民, 党, 支持者, ファン … after a noun, directly or
  after の: 韓国+人, 自民+党, 大阪+の+人, 〇〇+の+支持者).

A *group mention* is a group word, or a noun followed by a group suffix
(directly or after の).  It is the *topic* when the next token (after an
optional plural or honorific: ども, ら, 達, さん, 全員, みんな) is one of
``TOPIC_MARKERS`` (は, って, とか, なんて, なんか, も, が).  A
``group_contempt`` term then flags when, in the same sentence (as
``context_rules.sentence_bounds`` cuts it, and at line breaks), it comes after such a topic, or
when it directly precedes a group mention (「民度の低い〇〇人」).  It does
not flag

* when it is negated right after (頭おかしくない, 害悪ではない, ゴミじゃない);
* when it is a noun followed by a case particle: then it is an object or a
  modifier, not what is said of the group (〇〇人はゴミを分別する);
* where a lexicon match already covers it (the post is flagged already, and
  spans never overlap).

The same predicates are contempt when a *person* is the topic: a word
that points at someone (``context_rules.TARGET_WORDS``: お前, こいつ,
あんた, 奴 …) followed by a topic marker, directly or after の + a noun
(「お前の存在自体が迷惑」, 「こいつは害悪」, 「生活保護受けてるやつは
社会のお荷物」).  Such a match takes the lexicon's ``insult`` category
(``PERSON_CATEGORY``; ``group_contempt`` when the lexicon has no such
category), since it calls a person something.

Matches are ``FlagMatch`` es of category ``group_contempt`` over the
contemptuous term's span (so the report masks it), with ``via="group"``:
the ``detectors`` column names them ``group``.  A neutral sentence about a
group (「韓国の料理は美味しい」, 「自民党の政策について」) has no
contemptuous term and never flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from harness.analysis.context_rules import TARGET_WORDS, not_aimed, sentence_bounds
from harness.analysis.lexicon import Category, Lexicon, build_lexicon
from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.config import AnalysisConfig
from harness.data.lexicon_file import CategorySchema, LexiconError, TermSpec, read_lexicon_file
from harness.data.probes import load_group_file

GROUP_CONTEMPT, GROUP_WORD, GROUP_SUFFIX = "group_contempt", "group_word", "group_suffix"
GROUP_VIRTUE = "group_virtue"  # optional: a virtue a group is said to lack (マナー, 常識 + ない)
ADDRESSED = "addressed_contempt"  # optional: predicates that are contempt only said to お前 (つまらない, 無駄)
PERSON_WORD = "person_word"  # not in the file: the words of TARGET_WORDS, added as topics
PERSON_CATEGORY = "insult"  # a predicate said of a person is name-calling (when the lexicon has it)
ROLES = (GROUP_CONTEMPT, GROUP_WORD, GROUP_SUFFIX, GROUP_VIRTUE, ADDRESSED)
VIA = "group"  # FlagMatch.via of a rule match; the detectors column's name for it
# the flag scan (``harness.analysis.flagged.find_flags``), passed in: that module calls this one;
# its fourth argument, the tokens where a match may start (None: it finds them), may skip that search
Scan = Callable[[Sequence[Token], Lexicon, str, "list[int] | None"], list[Any]]

# Grammar, not vocabulary: particles that make the group the topic or subject, and what may sit between.
TOPIC_MARKERS = frozenset({"は", "って", "とか", "なんて", "なんか", "も", "が", "ってのは"})
BETWEEN = frozenset({"ども", "共", "ら", "達", "たち", "さん", "全員", "みんな", "皆"})
_NEGATION_SKIP = frozenset({"じゃ", "で", "は", "も", "く", "て", "い", "ませ"})  # かけ+て+い+ない, かけ+ませ+ん
_NEGATIONS = frozenset({"ない", "無い", "ぬ", "ず"})  # unidic lemmas: 助動詞 ない, 形容詞 無い
# the rudest second-person words (a subset of TARGET_WORDS): a person named so needs no topic marker
ADDRESS_WORDS = frozenset(
    {"お前", "おまえ", "オマエ", "お前ら", "おまえら", "てめえ", "テメエ", "てめー", "テメー", "貴様", "きさま"}
)  # fmt: skip
_CALLED_OUT = frozenset({"、", ",", "，", "!", "！", "…"})  # after an address word: a call, not a subject
_NOT_GROUP_NOUN = frozenset({"数詞", "代名詞"})  # pos2 of a noun that cannot take a group suffix (三人, 何人)


@dataclass(frozen=True)
class GroupRules:
    """The loaded rule layer: the contemptuous terms, the group vocabulary, and the harmful category."""

    predicates: Lexicon  # categories group_contempt and group_virtue
    groups: Lexicon  # group words, suffixes and heads (topic categories)
    category: Category  # group_contempt, as the flag analysis declares it
    files: tuple[Path, ...]  # every file read: the predicate file, then the group lists
    scan: Scan  # find_flags: the lexicon engine's matcher, reused for both vocabularies
    person: Category | None = None  # the category of a predicate said of a person (``for_lexicon``)

    def with_category(self, lexicon: Lexicon) -> Lexicon:
        """``lexicon`` with the ``group_contempt`` category added (it becomes ``cat_group_contempt``)."""
        if GROUP_CONTEMPT in lexicon.categories:
            return lexicon
        return dataclasses.replace(lexicon, categories={**lexicon.categories, GROUP_CONTEMPT: self.category})

    def for_lexicon(self, lexicon: Lexicon) -> "GroupRules":
        """These rules with the person category taken from ``lexicon``: its harmful ``insult``
        category, else ``group_contempt`` (a custom lexicon may have no insult category)."""
        found = lexicon.categories.get(PERSON_CATEGORY)
        return dataclasses.replace(self, person=found if found and found.severity == "harmful" else self.category)

    def add_matches(
        self, tokens: Sequence[Token], text: str, flags: list[Any], starts: tuple[list[int], list[int]] | None = None
    ) -> list[Any]:
        """``flags`` plus the group-contempt matches that overlap none of them, in text order
        (``starts``: see ``find_group_contempt``)."""
        found = find_group_contempt(tokens, text, self, flags, starts)
        return sorted([*flags, *found], key=lambda f: f.start) if found else flags


def rules_for(config: AnalysisConfig, tokenizer: JapaneseTokenizer, scan: Scan) -> GroupRules | None:
    """The rule layer ``config`` asks for (``analysis.group_rules``, ``analysis.group_lists``); None when off."""
    files = config.group_rule_files()
    return load_group_rules(files[0], files[1:], tokenizer, scan, config.group_lists) if files else None


def load_group_rules(
    path: str | Path,
    lists: Sequence[Path],
    tokenizer: JapaneseTokenizer,
    scan: Scan,
    folder: str | Path = "the group folder",
) -> GroupRules:
    """Read the rule file and the group lists; errors name the file and line (``LexiconError``)."""
    spec = read_lexicon_file(path)
    missing = [role for role in (GROUP_CONTEMPT, GROUP_WORD) if role not in spec.categories]
    unknown = [name for name in spec.categories if name not in ROLES]
    if missing or unknown:
        message = f"a group-rules file has the categories {', '.join(ROLES)} (missing {missing}, unknown {unknown})"
        raise LexiconError(message, path)
    if spec.categories[GROUP_CONTEMPT].severity != "harmful":
        raise LexiconError(f"category {GROUP_CONTEMPT} must be harmful", path)
    if not lists:
        raise LexiconError(f"no group lists (*.yaml) in {folder} (analysis.group_lists)", path)
    known = {t.term for t in spec.terms}
    listed = _group_terms(lists, known) + _person_terms(known)
    said = (GROUP_CONTEMPT, GROUP_VIRTUE, ADDRESSED)  # what is said of the group; the rest names it
    predicates = dataclasses.replace(spec, terms=[t for t in spec.terms if t.category in said])
    person = CategorySchema(severity="topic", description="words that point at a person (context_rules)")
    groups = dataclasses.replace(
        spec,
        terms=[t for t in spec.terms if t.category not in said] + listed,
        categories={**spec.categories, PERSON_WORD: person},
    )
    pred_lex = build_lexicon(predicates, tokenizer)
    category = pred_lex.categories[GROUP_CONTEMPT]
    return GroupRules(pred_lex, build_lexicon(groups, tokenizer), category, (Path(path), *lists), scan)


def _group_terms(lists: Iterable[Path], known: set[str]) -> list[TermSpec]:
    """The group names of the lists as ``group_word`` terms, skipping ones already known.

    Written whole (大阪の人, not 大阪): a place is not a group of people, and
    大阪人 is found anyway (a noun + the suffix 人).
    """
    terms: list[TermSpec] = []
    for path in lists:
        for name in load_group_file(path):
            if name not in known:
                known.add(name)
                terms.append(TermSpec(name, GROUP_WORD, "surface", None, f"group '{name}' of {path}", variants=False))
    return terms


def _person_terms(known: set[str]) -> list[TermSpec]:
    """The words that point at a person (``TARGET_WORDS``) as ``person_word`` terms: a person as the topic."""
    words = sorted(TARGET_WORDS - known)
    return [TermSpec(w, PERSON_WORD, "surface", None, f"person word '{w}'", variants=False) for w in words]


def find_group_contempt(
    tokens: Sequence[Token],
    text: str,
    rules: GroupRules,
    taken: Sequence[Any] = (),
    starts: tuple[list[int], list[int]] | None = None,
) -> list[Any]:
    """The ``group_contempt`` matches (``FlagMatch`` es) of ``tokens``, none overlapping ``taken``.

    ``starts``: the tokens where a group-vocabulary match and where a predicate match may start
    (any superset of each: ``flagged.candidate_tokens``), so that the scans need not find them.
    """
    group_starts, said_starts = starts if starts is not None else (None, None)
    # the group vocabulary first: it has no spelling variants, so its scan is the cheaper one,
    # and most texts name no group, so the predicate scan (with variants) is seldom needed
    groups = rules.scan(tokens, rules.groups, text, group_starts)
    if not groups:
        return []
    tokens = list(tokens)
    first_of = {t.start: i for i, t in enumerate(tokens)}
    last_of = {t.end: i for i, t in enumerate(tokens)}
    mentions = _mentions(tokens, groups, first_of, last_of)
    if not mentions:
        return []
    candidates = rules.scan(tokens, rules.predicates, text, said_starts)
    out = []
    for m in candidates:
        if any(m.start < t.end and t.start < m.end for t in taken):
            continue
        first, last = first_of[m.start], last_of[m.end]
        if m.category == GROUP_VIRTUE:  # a virtue counts only when the group is said to lack it
            lacking = _lacked(tokens, last)
            about = _about_group(tokens, text, first, last, mentions) if lacking is not None else None
            if about is not None:
                out.append(_said_of(m, about, rules, end=tokens[lacking].end))
            continue
        if _negated(tokens, last) or _object_noun(tokens, first, last) or not_aimed(tokens, first, last, m.category):
            continue
        about = _about_group(tokens, text, first, last, mentions)
        if about is not None and m.category == ADDRESSED and not _addressed_before(tokens, about, first):
            continue
        if about is not None and not _modifies_other(tokens, last, mentions):
            out.append(_said_of(m, about, rules))
    return out


def _said_of(match: Any, mention: tuple[int, int, bool], rules: GroupRules, end: int | None = None) -> Any:
    """The rule match of a predicate ``match`` said of ``mention``: ``group_contempt`` of a group,
    the person category (``GroupRules.person``) of a person."""
    category = rules.person if mention[2] and rules.person is not None else rules.category
    end = match.end if end is None else end
    return dataclasses.replace(match, category=category.name, weight=category.weight, end=end, via=VIA)


_LACK_SKIP = frozenset({"が", "も", "は", "を", "の", "って", "なんて", "なんか"})


def _lacked(tokens: list[Token], last: int) -> int | None:
    """The negation token when a virtue noun ending at ``last`` is denied: マナー+が+ない, 常識+ない,
    マナー+守ら+ない (a particle, then at most one verb, then ない); else None."""
    k = last + 1
    while k < len(tokens) and tokens[k].surface in _LACK_SKIP:
        k += 1
    if k < len(tokens) and tokens[k].pos1 == "動詞":
        k += 1
    if k < len(tokens) and tokens[k].lemma in _NEGATIONS and tokens[k].pos1 in ("助動詞", "形容詞"):
        return k
    return None


def _mentions(tokens: list[Token], hits: list[Any], first_of: dict, last_of: dict) -> list[tuple[int, int, bool]]:
    """Group and person mentions as token ranges ``(first, last, is_person)``: a group word, a noun
    (+ の) + a suffix, a person word."""
    out = []
    for h in hits:
        first, last = first_of[h.start], last_of[h.end]
        prev = tokens[first - 1] if first > 0 else None
        if h.category in (GROUP_WORD, PERSON_WORD):
            out.append((first, last, h.category == PERSON_WORD))
        elif h.category == GROUP_SUFFIX and prev is not None and _group_noun(prev):
            out.append((first - 1, last, False))
        elif h.category == GROUP_SUFFIX and prev is not None and prev.surface == "の" and first > 1:
            if _group_noun(tokens[first - 2]):
                out.append((first - 2, last, False))
    return out


def _group_noun(tok: Token) -> bool:
    """A noun that a group suffix can follow: not a number or pronoun; a noun suffix too (自民+党+の+支持者)."""
    return (tok.pos1 == "名詞" and tok.pos2 not in _NOT_GROUP_NOUN) or (tok.pos1 == "接尾辞" and tok.pos2 == "名詞的")


def _sentence_start(tokens: list[Token], text: str, first: int) -> int:
    """The first token of the sentence holding token ``first``: after 。!? (``sentence_bounds``) or a line break
    (tokens carry no whitespace, so a break shows only in ``text`` between two tokens)."""
    lo, _ = sentence_bounds(tokens, first, first)
    for k in range(first, lo, -1):
        if "\n" in text[tokens[k - 1].end : tokens[k].start]:
            return k
    return lo


def _about_group(
    tokens: list[Token], text: str, first: int, last: int, mentions: list[tuple[int, int, bool]]
) -> tuple[int, int, bool] | None:
    """The mention the term at ``first..last`` is said of: a group topic before it in its sentence,
    or a mention right after it; None when there is none."""
    lo = _sentence_start(tokens, text, first)
    for mention in mentions:
        g_first, g_last, _ = mention
        glued = g_first == last + 1 and tokens[last].end == tokens[g_first].start  # not across a line break
        if glued or (g_first == last + 2 and tokens[last + 1].surface == "な"):
            return mention  # attributive: 民度の低い〇〇人, 最悪なやつ (the term right before the mention)
        before = lo <= g_first and g_last < first
        if before and (_is_topic(tokens, g_last, first) or _addressed(tokens, g_first, g_last)):
            return mention
    return None


def _addressed(tokens: list[Token], first: int, last: int) -> bool:
    """A second-person word of contempt (お前, てめえ, 貴様) at ``first..last``: whatever its particle, what the
    sentence says after it is said of the reader (誰もお前に興味ない, お前の書き込み全部つまらない).  Not when
    it is only called out, with a comma or a space after it (お前ら、政治とか興味ねえわ: the writer's own)."""
    tok = tokens[first]
    if tok.surface not in ADDRESS_WORDS and tok.lemma not in ADDRESS_WORDS:
        return False
    nxt = last + 1
    return nxt < len(tokens) and tokens[nxt].surface not in _CALLED_OUT and tokens[nxt].start == tokens[last].end


def _addressed_before(tokens: list[Token], mention: tuple[int, int, bool], first: int) -> bool:
    """An ``addressed_contempt`` term (at ``first``) counts only after a rude second-person word."""
    return mention[0] < first and _addressed(tokens, mention[0], mention[1])


def _is_topic(tokens: list[Token], g_last: int, limit: int) -> bool:
    """A topic or subject marker follows the mention ending at ``g_last`` (before token ``limit``),
    directly, after ``BETWEEN`` words, or after の + one noun (〇〇人の印象は, 〇〇党の議員って)."""
    k = g_last + 1
    while k < limit and tokens[k].surface in BETWEEN:
        k += 1
    if k + 2 < limit and tokens[k].surface == "の" and tokens[k + 1].pos1 == "名詞":
        k += 2  # …の + a noun, and the nouns and noun suffixes of its compound (与党の政治+家は)
        while k < limit and (tokens[k].pos1 == "名詞" or (tokens[k].pos1 == "接尾辞" and tokens[k].pos2 == "名詞的")):
            k += 1
    return k < limit and tokens[k].surface in TOPIC_MARKERS


def _modifies_other(tokens: list[Token], last: int, mentions: list[tuple[int, int, bool]]) -> bool:
    """An adjective term right before a noun that is neither a group nor a person word modifies
    that noun, not the group (〇〇党は汚い核と言った); before 奴/連中 or a group it is still about people."""
    if tokens[last].pos1 not in ("形容詞", "形状詞") or last + 1 >= len(tokens):
        return False
    nxt = tokens[last + 1]
    if nxt.pos1 != "名詞" or any(g_first == last + 1 for g_first, _, _ in mentions):
        return False
    return nxt.surface not in TARGET_WORDS and nxt.lemma not in TARGET_WORDS


def _negated(tokens: list[Token], last: int) -> bool:
    """A negation right after the term: おかしく+ない, 害悪+では+ない, ゴミ+じゃ+ない."""
    k = last + 1
    while k < len(tokens) and tokens[k].surface in _NEGATION_SKIP:
        k += 1
    return k < len(tokens) and tokens[k].lemma in _NEGATIONS and tokens[k].pos1 in ("助動詞", "形容詞")


_COLLECTIVES = frozenset({"集まり", "集団", "群れ", "巣窟", "集合", "塊", "寄せ集め"})


def _object_noun(tokens: list[Token], first: int, last: int) -> bool:
    """A noun term followed by a case particle is an object or modifier, not a predicate (ゴミを出す);
    but not before の + a collective noun: then it is what the group is made of (暇人の集まり)."""
    if tokens[first].pos1 != "名詞" or last + 1 >= len(tokens) or tokens[last + 1].pos2 != "格助詞":
        return False
    collective = last + 2 < len(tokens) and tokens[last + 2].surface in _COLLECTIVES
    return not (tokens[last + 1].surface == "の" and collective)
