"""Context rules: when an ordinary word counts as an insult.

Words such as ゴミ, 豚, ハゲ or 虫 are insults only when used of someone.  An
entry with ``context: target`` flags only when its sentence has a *target
frame*; anything else (「ゴミを出す」, 「豚肉」) is left alone.  A target frame
is any of, inside the sentence of the match (tokens between 。!? or a line
break):

* a second-person or pointing-at-a-person word (お前, てめえ, 貴様, あんた,
  こいつ, あいつ, 奴, 連中, イッチ — the forum's "thread starter" …);
* an imperative verb (MeCab cForm starting with 命令形: 消えろ, 黙れ), a rude
  prohibition (調子乗ってんじゃねえよ), or a request, its softer form: a verb + て/で that ends the sentence or is
  followed by よ, くれ, ください, ちょうだい (見せてよ, 拡散して) — except for a
  noun term followed by a case particle (ゴミを出せ, 豚肉を買ってきて): an
  order about a thing names no one;
* a demonstrative right before the term (このハゲ, そのデブ);
* a vocative: a sentence-final particle or a calling interjection (おい,
  こら) right before the term, with no space between (悪いだけやぞハゲ,
  おいニート);
* a vocative or predicative ending right after the term: the copula or a
  sentence-final form (だ, や, じゃん, やん, だろ, やろ, かよ), the
  contemptuous suffix め, the jeering 乙, or an exclamation (!, w);
* a verb term done *to* someone: followed by て + やる (殴ってやる, 燃やしてやろうか)
  or wished on someone: 仮定形 + ば + いい, or て + ほしい (地獄に落ちればいい);
* a *comparison frame* (``compared``): the noun term is what someone is
  put below or likened to: right before 以下, 未満, 並み or そっくり (猿以下, ゴミ並み,
  豚そっくり), に + 失礼
  (ゴミに失礼), が + かわいそう (ゴミがかわいそう), の + 方 + (が/は) +
  まし/まだ/賢い (猿の方がまだ賢い), or でも + わかる/できる/まし within a few words
  (猿でもわかる, 猿でももう少しマシ).  Sarcasm of this shape insults with
  no insult word; an entry with ``context: compared`` (猿, 虫, 犬) flags
  only here, since those words are harmless anywhere else.

Rules that drop a match of any entry, target frame or not (``not_aimed``;
issue 16, out-of-domain dev evidence in ``probes/lexicons/flagged.yaml``):

* *reported speech*: the match lies inside a 「」/『』 quote that the sentence
  goes on to talk about (a quotative or case particle right after the closing
  bracket: 「死ね」と言われた, 「アホ」は関西では, or って + a verb or a noun
  of speech: 「キモい」って言葉は): the insult is mentioned, not made.  A
  quote that ends the text is not dropped (a reply may be one quote);
* *intensifier* (``INTENSIFIABLE`` categories): the term is glued to an adjective or to ほど / くらい /
  みたいに after it (バカ高い, クソ暑い, アホほど並んだ, キモいくらい上手い, バカみたいに笑った), or
  made an adjective that judges a thing (アホらしい, アホくさ): it grades the
  adjective or verb and calls no one anything;
* *of a thing* (``INTENSIFIABLE`` categories): the term + な before a noun
  of a deed or thing (アホなこと, バカな真似): it judges the deed, which is
  criticism, not contempt for a person;
* *talked about as a word* (``NAMED_AS_WORDS``): the term glued to 言う or
  followed by 呼ばわり (池沼言わないで, 死ね言われて, 非国民呼ばわり);
* *made light of, or a time of life* (``INTENSIFIABLE``): name-calling + に +
  する (馬鹿にするな, バカにされた: to mock someone, which calls no one the
  word), a term + の + 頃/時/時代 (ガキの頃, デブの時);
* *self-directed*: for the name-calling categories (``SELF_DIRECTED``), and
  the nouns and adjectives of harassment and sexual words
  (``SELF_DESCRIBED``), the writer speaking of themselves with no target word
  in the sentence: a first-person pronoun before the term (俺ほんとバカだわ,
  ワイは陰キャやから), unless it is + の + one of their people (うちの旦那、…カス
  is about the husband), or a first person the term describes right after it
  (童貞ワイ; not for sexual words).
"""

from __future__ import annotations

from harness.analysis.tokenize import Token

_SENTENCE_END = frozenset("。!?\n")
# Compared on the token surface and on its lemma (unidic lemmas: お前, 貴様 …).
TARGET_WORDS = frozenset(
    {
        "お前", "おまえ", "オマエ", "お前ら", "おまえら", "てめえ", "テメエ", "てめー", "テメー", "貴様", "きさま",
        "あんた", "アンタ", "こいつ", "コイツ", "そいつ", "ソイツ", "あいつ", "アイツ", "どいつ", "こいつら",
        "あいつら", "そいつら", "奴", "やつ", "ヤツ", "奴ら", "連中", "イッチ", "いっち", "おっさん", "ババア",
        "ジジイ", "君", "きみ", "キミ",
    }
)  # fmt: skip
_DEMONSTRATIVES = frozenset({"この", "その", "あの", "こんな", "そんな", "あんな"})
_CALLS = frozenset({"おい", "おいおい", "こら", "コラ", "ごら", "ゴラ", "おら", "オラ"})
_AFTER = frozenset(
    {"だ", "や", "じゃん", "やん", "だろ", "やろ", "かよ", "め", "!", "w", "ww", "www", "ども", "共", "乙"}
)


_OPEN_QUOTES, _CLOSE_QUOTES = frozenset("「『"), frozenset("」』")
# after a closing quote: the quote is what the sentence talks about (と言われた, って書く, という, は, を …)
_QUOTATIVE = frozenset({"と", "という", "とか", "は", "が", "を", "の", "も"})
# nouns that name words or messages: 「…」って言葉, 「…」ってリプ (the quote is talked about)
_SPEECH_NOUNS = frozenset(
    {"言葉", "単語", "表現", "ワード", "発言", "書き込み", "コメント", "リプ", "メッセージ", "台詞", "DM", "メール",
     "LINE", "ライン", "手紙", "返信", "電話"}
)  # fmt: skip
# not 自分 anywhere before the term: in Kansai speech it is "you"; right before it, it is the writer (_ONESELF)
_FIRST_PERSON = frozenset({"私", "俺", "僕", "あたし", "わたし", "わたくし", "うち", "ワイ", "わい", "おれ"})
_ONESELF = "自分"
# someone the writer calls theirs (うちの旦那, 俺の上司): a first person + の before one is not the writer
_THEIR_PEOPLE = frozenset(
    {"旦那", "嫁", "妻", "夫", "彼氏", "彼女", "親", "母", "父", "母親", "父親", "息子", "娘", "兄", "姉", "弟", "妹",
     "上司", "部下", "先輩", "後輩", "同僚", "友達", "友人", "担任", "先生", "子", "子供", "家族", "親父", "お袋",
     "オカン", "オトン", "義母", "義父", "姑", "舅", "クラス", "会社"}
)  # fmt: skip
# categories of name-calling that a speaker can use of themselves (俺バカだわ) or as an intensifier (バカ高い);
# threats, slurs and sexual remarks are neither.  Not harassment: its words are mostly orders and jeers
# (黙れ, 失せろ, ざまぁ), which 俺もだわ、… before them does not turn on the speaker (lexicon v6 log)
SELF_DIRECTED = frozenset({"insult", "profanity"})
# categories whose words also grade (キモいくらい上手い): the name-calling ones and harassment
INTENSIFIABLE = SELF_DIRECTED | {"harassment"}
# categories whose nouns describe a person, the writer too (ワイは陰キャやから, ワイはロリコンちゃう)
SELF_DESCRIBED = INTENSIFIABLE | {"sexual"}
_DESCRIBING = ("名詞", "形容詞")  # the parts of speech of a description (陰キャ, キモい), not an order or a jeer (黙れ)
# categories of words that are also talked about as words (池沼言わないで, 死ね言われて, 非国民呼ばわり)
NAMED_AS_WORDS = INTENSIFIABLE | {"discrimination", "threat"}
# nouns of deeds and things: an insult word + な before one judges the deed (アホなこと, バカな真似)
_THINGS = frozenset({"こと", "事", "もの", "物", "話", "真似", "質問", "発想", "考え", "ミス", "行動", "買い物"})
_TIMES = frozenset({"頃", "ころ", "時", "とき", "時代"})  # ガキの頃: a time of someone's life
_INTENSIFIED_BY = frozenset({"ほど", "くらい", "ぐらい"})  # a degree: キモいくらい上手い, アホほど並んだ
# glued after a noun, these make an adjective of it that judges a thing: アホらしい, アホくさ, 馬鹿くさい
_JUDGING_SUFFIXES = frozenset({"らしい", "臭い", "くさい"})


def sentence_bounds(tokens: list[Token], first: int, last: int) -> tuple[int, int]:
    """Token index range ``[lo, hi)`` of the sentence holding tokens ``first..last``."""
    lo = first
    while lo > 0 and tokens[lo - 1].surface not in _SENTENCE_END:
        lo -= 1
    hi = last + 1
    while hi < len(tokens) and tokens[hi].surface not in _SENTENCE_END:
        hi += 1
    return lo, hi


def _vocative(prev: Token, tok: Token) -> bool:
    """``tok`` is called out: right after (no space or line break) a sentence-final particle
    (…やぞハゲ) or a calling interjection (おいニート)."""
    return prev.end == tok.start and (prev.pos2 == "終助詞" or prev.surface in _CALLS)


_CLOSERS = frozenset("!?！？。…・.w草)）")
_ENDING = frozenset({"動詞", "形容詞", "助動詞", "助詞"})  # what や/か end as a remark (寝るなや, あるか), not 何か


def _tacked_on(tokens: list[Token], first: int, last: int) -> bool:
    """The term ends its sentence (only marks or w after it) and comes right after the end of a remark,
    spaces between or not: a sentence-final particle, や or か after a verb, adjective or particle, an
    imperative or a question mark (寝るなやハゲ, 考えろハゲ, そんなことあるか ハゲ): name-calling tacked onto a
    remark is said to its addressee."""
    for tok in tokens[last + 1 :]:
        if tok.surface == "\n":
            break
        if not set(tok.surface) <= _CLOSERS:
            return False
    prev = tokens[first - 1]
    return (
        prev.pos2 == "終助詞"
        or (prev.surface in ("や", "か") and prev.pos1 == "助詞" and first > 1 and tokens[first - 2].pos1 in _ENDING)
        or prev.c_form.startswith("命令形")
        or prev.surface in ("?", "？")
    )


# after a verb + て/で, what makes it a request (見せてよ, 見せてくれ); the end of the sentence does too
_REQUEST_ENDINGS = frozenset({"よ", "くれ", "ください", "下さい", "ちょうだい", "くれよ", "や"})
_OBJECT_PARTICLES = frozenset({"を", "に", "で", "から", "へ", "と"})
_VERB_AUXILIARIES = frozenset({"せる", "させる", "れる", "られる"})


_TE = frozenset({"て", "で"})


def _request(tokens: list[Token], k: int, hi: int) -> bool:
    """Token ``k`` is the て/で of a request ending its sentence (``hi``: the sentence end)."""
    tok = tokens[k]
    if tok.surface not in _TE or tok.pos1 != "助詞" or k == 0:
        return False
    verb = tokens[k - 1]  # a verb, or the causative/passive after one (触らせて), in its continuative form
    if not verb.c_form.startswith("連用形") or not (verb.pos1 == "動詞" or verb.lemma in _VERB_AUXILIARIES):
        return False
    return k + 1 >= hi or tokens[k + 1].surface in _REQUEST_ENDINGS and (k + 2 >= hi or tokens[k + 2].pos1 == "助詞")


def _ordered_thing(tokens: list[Token], first: int, last: int) -> bool:
    """A noun term followed by a case particle: the object of an order, not the one ordered (ゴミを出せ)."""
    return tokens[first].pos1 == "名詞" and last + 1 < len(tokens) and tokens[last + 1].surface in _OBJECT_PARTICLES


_BELOW = frozenset({"以下", "未満", "並み", "並"})  # 猿以下, ゴミ並み
_LIKENED = frozenset({"そっくり"})  # 顔が豚そっくり: likened to the animal or the thing
_PITIED = frozenset({"かわいそう", "可哀想", "可哀そう", "かわいそ", "気の毒"})  # …がかわいそう
_BETTER = frozenset({"まし", "マシ", "まだ", "賢い", "よっぽど", "よほど"})  # …の方がまだ賢い
_EVEN_ABLE = frozenset({"分かる", "出来る", "理解"})  # 猿でもわかる, 犬でもできる (lemmas)


def compared(tokens: list[Token], first: int, last: int) -> bool:
    """The noun term at ``first..last`` is what someone is put below (see the module docstring)."""
    if tokens[first].pos1 != "名詞" or last + 1 >= len(tokens):
        return False
    after = [t.surface for t in tokens[last + 1 : last + 5]]
    if after[0] in _BELOW:
        return True
    if after[0] in _LIKENED and after[1:2] != ["の"]:  # said of someone, not 豚そっくりの貯金箱
        return True
    if after[:2] == ["に", "失礼"] or (after[0] == "が" and len(after) > 1 and after[1] in _PITIED):
        return True
    if after[:2] == ["で", "も"]:  # 猿でもわかる, 猿でももう少しマシ: even the animal could
        return any(t.lemma in _EVEN_ABLE or t.surface in _BETTER for t in tokens[last + 3 : last + 7])
    if after[:2] != ["の", "方"]:
        return False
    rest = after[2:] if len(after) < 3 or after[2] not in ("が", "は") else after[3:]
    return bool(rest) and rest[0] in _BETTER


def has_target(tokens: list[Token], first: int, last: int) -> bool:
    """True when the match at tokens ``first..last`` (inclusive) sits in a target frame."""
    if first > 0 and tokens[first - 1].surface in _DEMONSTRATIVES:
        return True
    if first > 0 and _vocative(tokens[first - 1], tokens[first]):
        return True
    if first > 0 and _tacked_on(tokens, first, last):
        return True
    if last + 1 < len(tokens) and tokens[last + 1].surface in _AFTER:
        return True
    if _done_to_someone(tokens, last) or compared(tokens, first, last):
        return True
    lo, hi = sentence_bounds(tokens, first, last)
    ordered = not _ordered_thing(tokens, first, last)  # whether an order or request can aim the term
    for k in range(lo, hi):
        if first <= k <= last:
            continue
        tok = tokens[k]
        surface = tok.surface
        if surface in TARGET_WORDS or tok.lemma in TARGET_WORDS:
            return True
        # (the て/で test first: _request is a call, and this loop runs on every token of the sentence)
        if ordered and (tok.c_form.startswith("命令形") or (surface in _TE and _request(tokens, k, hi))):
            return True
        if ordered and surface == "じゃ" and _prohibition(tokens, k, hi):
            return True
    return False


_NOT = frozenset({"ねー", "ねえ", "ねぇ", "ない"})
_PROHIBITION_ENDS = frozenset({"よ", "ぞ", "わ", "や", "!", "w", "ww", "www"})


def _prohibition(tokens: list[Token], k: int, hi: int) -> bool:
    """Token ``k`` is the じゃ of a rude prohibition ending its sentence: て/って/で + ん + じゃ + ねえ/ない
    (+ よ/ぞ …): 調子乗ってんじゃねえよ, ふざけてんじゃねぇ, an order like 黙れ. Not a question (…んじゃねえの?,
    …てんじゃないか) and not いいんじゃねえ (no て before ん)."""
    if k < 2 or k + 1 >= hi or tokens[k - 1].surface != "ん" or tokens[k - 2].surface not in ("て", "って", "で"):
        return False
    if tokens[k + 1].surface not in _NOT:
        return False
    return k + 2 >= hi or tokens[k + 2].surface in _PROHIBITION_ENDS


def _done_to_someone(tokens: list[Token], last: int) -> bool:
    """A verb term followed by て + やる (殴ってやる) or a wish: ば + いい (落ちればいい), て + ほしい."""
    if tokens[last].pos1 != "動詞" or last + 2 >= len(tokens):
        return False
    nxt, after = tokens[last + 1], tokens[last + 2]
    if nxt.surface in ("て", "で"):
        return after.lemma in ("遣る", "欲しい") or after.surface in ("やる", "やろう", "やっ", "ほしい", "欲しい")
    return nxt.surface == "ば" and after.lemma == "良い"


def not_aimed(tokens: list[Token], first: int, last: int, category: str) -> bool:
    """The match at ``first..last`` of a ``category`` entry insults no one: reported speech, a word talked
    about, an intensifier, a judgement of a deed, made light of or a time of life, or said of oneself (the
    module docstring)."""
    if _reported(tokens, first, last) or (category in NAMED_AS_WORDS and _named_as_a_word(tokens, last)):
        return True
    if category in INTENSIFIABLE and (
        _intensifier(tokens, last) or _of_a_thing(tokens, last) or _made_or_when(tokens, last, category)
    ):
        return True
    if category in SELF_DIRECTED or (category in SELF_DESCRIBED and tokens[first].pos1 in _DESCRIBING):
        return self_directed(tokens, first, last, described_after=category != "sexual")
    return False


def _named_as_a_word(tokens: list[Token], last: int) -> bool:
    """The term glued to 言う (池沼言わないで, バカ言うな) or + 呼ばわり (非国民呼ばわり): the word is talked
    about or reported, not called at anyone."""
    if last + 1 >= len(tokens) or tokens[last + 1].start != tokens[last].end:
        return False
    nxt = tokens[last + 1]
    return nxt.lemma == "言う" or nxt.surface.startswith("呼ばわり")


def _reported(tokens: list[Token], first: int, last: int) -> bool:
    """Inside a 「」 quote whose closing bracket a quotative or case particle follows."""
    k = first - 1
    while k >= 0 and tokens[k].surface not in _OPEN_QUOTES:
        if tokens[k].surface in _CLOSE_QUOTES:
            return False
        k -= 1
    if k < 0:
        return False
    k = last + 1
    while k < len(tokens) and tokens[k].surface not in _CLOSE_QUOTES:
        if tokens[k].surface in _OPEN_QUOTES:
            return False
        k += 1
    if k + 1 >= len(tokens):
        return False
    nxt = tokens[k + 1]
    # って is quotative before a verb (って言われた, って書く) or a noun of speech (って言葉), the speaker's
    # own voice before another noun (って感じ)
    after = tokens[k + 2] if k + 2 < len(tokens) else None
    if nxt.surface in _QUOTATIVE:
        return True
    spoken = after is not None and (after.pos1 == "動詞" or bool({after.surface, after.lemma} & _SPEECH_NOUNS))
    return nxt.surface == "って" and spoken


def _intensifier(tokens: list[Token], last: int) -> bool:
    """Glued to a following adjective (not ない/いい), ほど/くらい, or みたい + に: it grades, it does not
    name; or made an adjective by らしい/くさい (アホらしい): it judges a thing."""
    if last + 1 >= len(tokens) or tokens[last + 1].start != tokens[last].end:
        return False
    nxt = tokens[last + 1]
    if nxt.pos1 == "形容詞" and nxt.pos2 != "非自立可能":
        return True
    if nxt.surface in _INTENSIFIED_BY or nxt.lemma in _JUDGING_SUFFIXES or nxt.surface in _JUDGING_SUFFIXES:
        return True
    return nxt.surface == "みたい" and last + 2 < len(tokens) and tokens[last + 2].surface == "に"


def _made_or_when(tokens: list[Token], last: int, category: str) -> bool:
    """A name-calling term (``SELF_DIRECTED``) + に + する (馬鹿にする, バカにされた: to make light of someone,
    which calls no one the word; not 顔真っ赤にして, a jeer), or any + の + a time (ガキの頃, デブの時: a time
    of someone's life)."""
    if last + 2 >= len(tokens):
        return False
    nxt, after = tokens[last + 1], tokens[last + 2]
    if nxt.surface == "に":
        return category in SELF_DIRECTED and after.lemma == "為る"
    return nxt.surface == "の" and (after.surface in _TIMES or after.lemma in _TIMES)


def _of_a_thing(tokens: list[Token], last: int) -> bool:
    """Said of a deed or a thing, not a person: the term + な + a noun of ``_THINGS`` (アホなこと,
    バカな真似): criticism of what someone did, which the guideline does not call toxic."""
    if last + 2 >= len(tokens) or tokens[last + 1].surface != "な":
        return False
    nxt = tokens[last + 2]
    return nxt.surface in _THINGS or nxt.lemma in _THINGS


def self_directed(tokens: list[Token], first: int, last: int, described_after: bool = True) -> bool:
    """The writer speaking of themselves, and no target word anywhere in the sentence: a first-person
    pronoun before the term in its sentence, not a possessive (うちの旦那、…カス is about someone else);
    自分 right before the term (自分バカすぎ, 自分のクズさ); or the term describing a first-person
    pronoun right after it (童貞ワイ, where unidic reads ワイ as the letter Y; not for sexual words, with
    ``described_after`` false: ビッチワイ「…」 sets up a sexual skit about someone else)."""
    lo, hi = sentence_bounds(tokens, first, last)
    me = (
        _oneself_before(tokens, lo, first)
        or any(_first_person(tokens[k]) and not _someone_of_mine(tokens, k + 1, first) for k in range(lo, first))
        or (described_after and last + 1 < hi and _first_person(tokens[last + 1], "記号"))
    )
    if not me:
        return False
    return not any(tokens[k].surface in TARGET_WORDS or tokens[k].lemma in TARGET_WORDS for k in range(lo, hi))


def _someone_of_mine(tokens: list[Token], k: int, first: int) -> bool:
    """の + a person of the writer's (うちの旦那, 俺の上司) at ``k``, before the term: the term is said of them."""
    if k + 1 >= first or tokens[k].surface != "の":
        return False
    return tokens[k + 1].surface in _THEIR_PEOPLE or tokens[k + 1].lemma in _THEIR_PEOPLE


def _first_person(token: Token, *also: str) -> bool:
    return token.surface in _FIRST_PERSON and token.pos1 in ("代名詞", "名詞", *also)


def _oneself_before(tokens: list[Token], lo: int, first: int) -> bool:
    """自分 right before the term, or + の (自分のクズさ): the writer's own, not a Kansai "you" further away
    (自分だけが辛いと思うなよゴミ keeps its target)."""
    k = first - 1
    if k > lo and tokens[k].surface == "の":
        k -= 1
    return k >= lo and tokens[k].surface == _ONESELF


def inside_phrase(text: str, start: int, end: int, phrases: tuple[str, ...]) -> bool:
    """True when ``text[start:end]`` lies inside an occurrence of one of ``phrases`` (exceptions, not_in)."""
    for phrase in phrases:
        # the phrase can only cover the span if it starts at most len(phrase) before it
        lo = max(0, end - len(phrase))
        pos = text.find(phrase, lo, start + len(phrase))
        while pos != -1 and pos <= start:
            if pos + len(phrase) >= end:
                return True
            pos = text.find(phrase, pos + 1, start + len(phrase))
    return False
