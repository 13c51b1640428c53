#!/usr/bin/env python3
"""Build the two demo corpora: ``polite.txt`` and ``board.tsv``.

Everything here -- templates, word lists, dialogue patterns -- was written for
this project; nothing is copied from a real forum or any other corpus.  The
generator is deterministic (fixed seed, standard library only), so running

    python corpora/demo/build_demo.py            # (re)write both files
    python corpora/demo/build_demo.py --check    # exit 1 if the files differ

reproduces the committed files byte for byte.

polite.txt  one neutral, polite (です/ます) Japanese sentence per line.
board.tsv   open2ch-style dialogues: ``post<TAB>reply[<TAB>reply...]``, 2-4
            turns, no header; a newline inside a post is written `` __BR__ ``.
            CONTENT NOTE: board.tsv deliberately contains invented rude,
            mocking and vulgar language so that the harness has something to
            detect.  Do not use it to train anything that is deployed.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

SEED = 20261126
POLITE_LINES = 520
BOARD_DIALOGUES = 800
BR = " __BR__ "
HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------
# Shared vocabulary (both corpora talk about weather, trains, food, shops ...)
# ---------------------------------------------------------------------------

DAYS = ["月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日"]
TIMES = ["午前九時", "午前十時", "午前十一時", "正午", "午後一時", "午後三時", "午後五時", "午後六時", "午後七時"]
WHEN = ["明日", "明後日", "今週末", "週明け", "今夜", "明日の朝", "明日の午後", "来週の前半"]
WEATHER = ["晴れ", "曇り", "雨", "雪", "晴れ時々曇り", "曇りのち雨", "小雨", "にわか雨"]
AREAS = ["北部", "南部", "沿岸部", "山沿い", "市内", "県内全域", "平野部"]
SHOPS = [
    "駅前のパン屋",
    "商店街の八百屋",
    "角の喫茶店",
    "駅ビルの本屋",
    "近所のスーパー",
    "川沿いの花屋",
    "大通りの文房具店",
    "公園の隣のカフェ",
    "二丁目の和菓子屋",
    "新しいお弁当屋",
    "駅前の新しい店",
]
ITEMS = [
    "季節限定のケーキ",
    "焼きたてのパン",
    "新茶",
    "栗のお菓子",
    "手作りのジャム",
    "地元の野菜",
    "文庫本の新刊",
    "春物の傘",
    "いちご大福",
    "日替わりのお弁当",
]
LINES = ["中央線", "環状線", "各駅停車", "快速電車", "私鉄の急行", "始発のバス", "臨時列車", "空港行きのバス"]
REASONS = ["信号の確認", "車両の点検", "強風", "大雨", "線路内の安全確認", "ホームの混雑"]
MINUTES = ["五", "十", "十五", "二十", "三十"]
FOODS = [
    "カレー",
    "肉じゃが",
    "焼き魚",
    "野菜のスープ",
    "炊き込みご飯",
    "オムレツ",
    "豚汁",
    "親子丼",
    "鍋料理",
    "ハンバーグ",
    "焼きそば",
    "グラタン",
]
INGREDIENTS = ["玉ねぎ", "大根", "かぼちゃ", "にんじん", "じゃがいも", "キャベツ", "鶏肉", "豆腐", "しいたけ", "なす"]
HOBBIES = [
    "読書",
    "散歩",
    "写真撮影",
    "家庭菜園",
    "ピアノの練習",
    "料理",
    "釣り",
    "登山",
    "将棋",
    "編み物",
    "ジョギング",
    "映画鑑賞",
    "ボードゲーム",
    "天体観測",
]
GAMES = ["新作のRPG", "パズルゲーム", "レースゲーム", "スマホのゲーム", "格闘ゲーム", "オンライン対戦"]
SEASONS = ["春", "夏", "秋", "冬"]

# ---------------------------------------------------------------------------
# polite.txt
# ---------------------------------------------------------------------------

P = {
    "day": DAYS,
    "time": TIMES,
    "when": WHEN,
    "weather": WEATHER,
    "area": AREAS,
    "shop": SHOPS,
    "item": ITEMS,
    "line": LINES,
    "reason": REASONS,
    "min": MINUTES,
    "food": FOODS,
    "ingr": INGREDIENTS,
    "hobby": HOBBIES,
    "season": SEASONS,
    "platform": ["一", "二", "三", "四", "五", "六"],
    "since": ["今週", "来月", "先週", "今日", "月末"],
    "method_taste": [
        "弱火でじっくり煮ると甘く",
        "薄く切って炒めると香ばしく",
        "一晩漬けておくとやわらかく",
        "蒸してから焼くとほくほくに",
        "皮ごと焼くと香りがよく",
        "だしで煮るとまろやかに",
    ],
    "person": ["祖母", "同僚", "友人", "妹", "兄", "隣の方", "先輩", "母", "父", "料理教室の先生"],
    "libitem": ["本", "絵本", "雑誌のバックナンバー", "CD", "紙芝居", "大活字本"],
    "libmat": ["新聞", "雑誌の最新号", "郷土資料", "参考図書", "古い地図", "地域の写真集"],
    "libtopic": ["園芸", "歴史", "星座", "鉄道", "料理", "野鳥", "手芸", "旅行", "天気", "昆虫"],
    "room": ["第一会議室", "三階の会議室", "本館の大会議室", "小会議室", "二階の打ち合わせスペース"],
    "date": [
        "三月五日",
        "四月十日",
        "六月一日",
        "九月二十日",
        "十一月三日",
        "十二月二十八日",
        "来週の水曜日",
        "今月末",
    ],
    "work": ["棚卸し", "設備点検", "清掃作業", "職員研修", "システムの更新", "館内整理", "空調の工事"],
    "facility": ["市民プール", "体育館", "図書館", "公民館", "駐輪場", "市民ホール", "郵便局の窓口", "展望台"],
    "task": ["報告書", "経費の精算", "資料の提出", "参加の申し込み", "アンケートの回答"],
    "temp": ["暖かく", "涼しく", "寒く", "暑く", "雨が多く", "雪が少なく"],
    "dur": ["半年", "一年", "三か月", "二年", "十年", "一か月"],
    "counter": ["受付窓口", "総合案内", "管理事務所", "各店舗のスタッフ", "担当の係"],
    "event": ["夏祭り", "花火大会", "運動会", "音楽会", "秋の市", "朝市", "将棋大会"],
    "tod": ["朝", "お昼過ぎ", "夕方", "夜"],
    "feel": [
        "とても楽しかったです。",
        "少し疲れましたが満足しました。",
        "よい気分転換になりました。",
        "また行きたいと思いました。",
        "のんびり過ごせました。",
    ],
    "cleared": ["車両の点検", "線路内の安全確認", "信号の確認", "踏切の点検"],
    "outing": ["美術館", "植物園", "水族館", "温泉", "海辺の公園", "古い町並み", "動物園", "博物館"],
    "season_scene": [
        "春になると、川沿いの桜を見に行くのが楽しみです。",
        "夏になると、花火大会に出かけるのが楽しみです。",
        "秋になると、山の紅葉を眺めに行くのが楽しみです。",
        "冬になると、温かいお茶を飲みながら読書をするのが楽しみです。",
    ],
    "shop_item": [
        ("駅前のパン屋", "焼きたてのパン"),
        ("駅前のパン屋", "季節限定のサンドイッチ"),
        ("商店街の八百屋", "地元の野菜"),
        ("商店街の八百屋", "旬の果物"),
        ("角の喫茶店", "季節限定のケーキ"),
        ("角の喫茶店", "新しいブレンドのコーヒー"),
        ("駅ビルの本屋", "文庫本の新刊"),
        ("駅ビルの本屋", "来年の手帳"),
        ("近所のスーパー", "日替わりのお弁当"),
        ("近所のスーパー", "手作りのジャム"),
        ("川沿いの花屋", "小さな鉢植え"),
        ("川沿いの花屋", "季節の花束"),
        ("大通りの文房具店", "万年筆のインク"),
        ("大通りの文房具店", "和紙の便せん"),
        ("公園の隣のカフェ", "手作りのスコーン"),
        ("二丁目の和菓子屋", "いちご大福"),
        ("二丁目の和菓子屋", "栗のお菓子"),
        ("駅前のお茶屋", "新茶"),
        ("新しいお弁当屋", "のり弁当"),
        ("駅前の新しい店", "焼き菓子の詰め合わせ"),
    ],
    "rainy": ["雨", "雪", "小雨", "曇りのち雨", "にわか雨", "大雨"],
    "indoor": ["読書", "編み物", "料理", "ピアノの練習", "映画鑑賞", "ボードゲーム", "パズル", "手紙の整理"],
    "lesson": ["ピアノ", "書道", "料理", "英会話", "陶芸", "ヨガ", "水泳", "生け花", "囲碁"],
    "daypair": ["月曜日と木曜日", "火曜日と金曜日", "水曜日と金曜日", "月曜日と水曜日", "火曜日と木曜日"],
    "pet_act": [
        ("うちの猫", "窓辺で眠っています"),
        ("うちの猫", "ひなたで丸くなっています"),
        ("実家の猫", "ごはんを催促します"),
        ("実家の猫", "こたつにもぐり込みます"),
        ("隣の家の犬", "散歩に行きたがります"),
        ("友人の犬", "玄関で家族を待っています"),
        ("うちの犬", "おもちゃをくわえて遊びます"),
    ],
    "outdoor_event": ["夏祭り", "花火大会", "運動会", "秋の市", "朝市"],
    "hours_facility": ["市民プール", "体育館", "図書館", "公民館", "市民ホール", "自習室"],
    "season_food": ["春はたけのこ", "夏はすいか", "秋はさんま", "冬はみかん", "春は菜の花", "秋は栗", "冬は白菜"],
}

POLITE_TEMPLATES = [
    # weather
    "{when}は{area}で{weather}になる見込みです。",
    "天気予報によると、{when}は{weather}だそうです。",
    "{area}では{when}にかけて風が強くなるでしょう。",
    "{when}は気温が上がり、過ごしやすくなりそうです。",
    "{rainy}の日は、家で{indoor}をして過ごすことが多いです。",
    "{when}は{rainy}の予報ですので、傘をお持ちください。",
    "今年の{season}は例年より{temp}なるそうです。",
    # shops
    "{shop}は{day}が定休日です。",
    "{shop_item.0}では{since}から{shop_item.1}を販売しています。",
    "{shop_item.0}の{shop_item.1}はとても人気があります。",
    "{shop}は{time}に開店します。",
    "先日、{shop_item.0}で{shop_item.1}を買いました。",
    "{shop}の店員さんはいつも親切です。",
    "{shop}は改装を終えて、{day}から営業を再開します。",
    "{item}は数に限りがありますので、お早めにどうぞ。",
    # trains
    "{line}は{reason}のため、{min}分ほど遅れています。",
    "{time}発の{line}は{platform}番線から発車します。",
    "{line}は{day}のみ運転時刻が変わります。",
    "{line}にご乗車の際は、足元にご注意をお願いします。",
    "朝の{line}は混雑しますので、早めに家を出ています。",
    "{cleared}が終わり、{line}は平常どおり運転しています。",
    # cooking
    "{ingr}は{method_taste}なります。",
    "今日は{person}と一緒に{food}を作りました。",
    "{person}に教わった{food}の作り方を試してみました。",
    "{food}には{ingr}をたっぷり入れるのが好きです。",
    "寒い日には温かい{food}が食べたくなります。",
    "夕食の{food}に、旬の{ingr}を使いました。",
    # library
    "図書館の{libitem}は二週間まで借りることができます。",
    "図書館は{day}も{time}まで開館しています。",
    "{libmat}は二階の閲覧室でご覧いただけます。",
    "{libitem}の返却は、入口横の返却ポストでも受け付けています。",
    "図書館で{libtopic}に関する本を借りてきました。",
    "{libtopic}の本を読んで、新しいことをたくさん知りました。",
    # work
    "{day}の会議は{time}から{room}で行います。",
    "{task}の締め切りは{date}です。",
    "来週は{work}があるため、{day}の勤務は{time}までです。",
    "今月のシフト表は{day}に掲示します。",
    "私は{daypair}は在宅で仕事をしています。",
    "{date}は{work}のため、{time}に業務を終了します。",
    # seasons
    "{season_scene}",
    "{season_food}がおいしい季節になりました。",
    "{season}の{tod}は空気が澄んでいて気持ちがいいです。",
    # hobbies / outings / pets
    "休日は{hobby}をして過ごしています。",
    "{hobby}を始めて{dur}になりました。",
    "{person}と一緒に{hobby}を楽しみました。",
    "最近は{hobby}に夢中になっています。",
    "毎週{day}は{lesson}の教室に通っています。",
    "週末に{outing}へ出かけて、{feel}",
    "{person}と{outing}に行く約束をしています。",
    "{pet_act.0}は{tod}になると{pet_act.1}。",
    # notices
    "{date}は{work}のため、{facility}をご利用いただけません。",
    "ご不明な点には{counter}がお答えします。",
    "{hours_facility}の利用時間は{time}から午後九時までです。",
    "{event}の当日は駐車場が混み合いますので、電車をご利用ください。",
    "{outdoor_event}は雨天の場合、{date}に延期します。",
    "{facility}では忘れ物を一か月間お預かりしています。",
    "{event}の参加申し込みは{date}までに{counter}へお願いします。",
]


def _fill(template: str, words: dict[str, list], rng: random.Random) -> str:
    """Replace each ``{slot}`` with a random word.

    ``{name.0}``, ``{name.1}`` ... pick fields of one tuple from ``words[name]``;
    within one template every field of ``name`` comes from the same tuple, so
    related words (a shop and what it sells) stay together.
    """
    out = template
    linked: dict[str, tuple[str, ...]] = {}
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        key = out[start + 1 : end]
        if "." in key:
            name, field = key.split(".")
            if name not in linked:
                linked[name] = rng.choice(words[name])
            word = linked[name][int(field)]
        else:
            word = rng.choice(words[key])
        out = out[:start] + word + out[end + 1 :]
    return out


def build_polite(rng: random.Random) -> list[str]:
    """Unique polite sentences; templates are visited round-robin for balance."""
    lines: list[str] = []
    seen: dict[str, None] = {}
    order = list(range(len(POLITE_TEMPLATES)))
    attempts = 0
    while len(lines) < POLITE_LINES:
        rng.shuffle(order)
        for index in order:
            attempts += 1
            sentence = _fill(POLITE_TEMPLATES[index], P, rng)
            if sentence in seen or not 12 <= len(sentence) <= 48:
                continue
            seen[sentence] = None
            lines.append(sentence)
            if len(lines) >= POLITE_LINES:
                break
        if attempts > 100 * POLITE_LINES:
            raise RuntimeError("polite templates cannot produce enough unique sentences")
    return lines


# ---------------------------------------------------------------------------
# board.tsv -- casual, rough forum register (invented)
# ---------------------------------------------------------------------------

B = {
    "line": ["中央線", "環状線", "各停", "快速", "急行", "始発", "終電", "朝のバス"],
    "weather": ["雨", "雪", "曇り", "台風", "猛暑", "大雨"],
    "when": ["明日", "今週末", "明後日", "来週", "今夜"],
    "shop": [
        "駅前のラーメン屋",
        "近所のスーパー",
        "駅前の新しい店",
        "角のコンビニ",
        "商店街のパン屋",
        "牛丼屋",
        "例のカフェ",
    ],
    "food": [
        "カレー",
        "ラーメン",
        "牛丼",
        "焼きそば",
        "唐揚げ",
        "ハンバーグ",
        "たこ焼き",
        "おにぎり",
        "餃子",
        "カップ麺",
    ],
    "topping": ["マヨ", "七味", "チーズ", "ネギ", "生卵", "からし", "ソース"],
    "game": ["新作のRPG", "例のソシャゲ", "格ゲー", "レースゲーム", "パズルゲー", "対戦ゲー"],
    "hobby": ["筋トレ", "ギター", "料理", "ジョギング", "釣り", "将棋", "カメラ"],
    "season": ["春", "夏", "秋", "冬"],
    "day": ["月曜", "火曜", "水曜", "木曜", "金曜", "土曜", "日曜"],
    "num": ["二", "三", "五", "十"],
    "pair": ["猫派と犬派", "朝型と夜型", "きのこ派とたけのこ派", "都会と田舎", "カレーとラーメン", "夏と冬"],
    "group": ["猫派", "犬派", "朝型", "夜型", "若者", "年寄り", "都会", "田舎", "きのこ派", "たけのこ派"],
    "insult": [
        "バカ",
        "アホ",
        "無能",
        "雑魚",
        "ザコ",
        "カス",
        "クズ",
        "間抜け",
        "マヌケ",
        "ポンコツ",
        "低能",
        "役立たず",
        "ヘタレ",
        "負け犬",
        "ばか",
        "ボンクラ",
        "ガキ",
        "のろま",
        "情弱",
        "脳筋",
        "ゴミクズ",
        "ボケナス",
        "能無し",
        "ろくでなし",
    ],
    "you": ["お前", "おまえ", "てめえ", "お前ら", "おまえら"],
    "sfp": ["だろ", "じゃん", "よな", "ぞ", "わ", "な", "ぜ"],
    "laugh": ["w", "ww", "www", "wwww", "ｗｗ", "ｗｗｗ", "草", "草生える", "大草原"],
}

# Openers (first post of a thread).  Plain form only.
OPENERS_NEUTRAL = [
    "{line}また遅れてんじゃん",
    "{line}混みすぎだろ",
    "{line}止まってて草",
    "{when}{weather}らしいぞ",
    "{weather}で外出る気しねえわ",
    "{when}の天気どうなんだよ",
    "{shop}行った奴おる？",
    "{shop}の{food}食ったけど普通だったわ",
    "{shop}潰れたらしいな",
    "{food}には{topping}一択だろ",
    "{food}に{topping}かける奴なんなの",
    "深夜に{food}食うのが一番うまいよな",
    "{game}やってる奴おる？",
    "{game}のガチャまた爆死したわ",
    "{game}のボス強すぎじゃね",
    "{game}のイベント周回だるすぎ",
    "月曜から仕事とかだるすぎる",
    "残業{num}時間目突入したわ",
    "上司が{day}に会議ぶっこんできやがった",
    "{pair}どっちが上か決めようぜ",
    "{pair}ならどっち選ぶよ",
    "{season}になったら旅行行きてえ",
    "{season}って結局一番だるい季節だろ",
    "{hobby}始めたけど三日で飽きた",
    "{hobby}やってる奴ちょっと来い",
    "お前ら{when}何すんの",
    "ワイ、{food}作って盛大に失敗する",
    "ワイ、{when}も仕事",
    "正直言って{food}って過大評価だろ",
    "ぶっちゃけ{game}もうオワコンだろ",
    "図書館で爆睡してる奴いたわ",
    "コンビニの新作スイーツ甘すぎじゃね",
    "猫って何考えてんのかわからんよな",
    "犬の散歩してたら雨降ってきたわ",
    "朝起きれねえ、誰か起こしてくれ",
    "スレ立てたけど誰もいねえな",
    "花粉ひどすぎて何もできん",
    "電車で隣の奴がずっと電話してた",
    "駅前の新しい店、行列えぐいぞ",
    "給料日まであと{num}日とか無理ゲー",
]

OPENERS_GROUP = [
    "{group}の奴らってほんと{insult}だよな",
    "{group}の人って話通じねえよな",
    "これだから{group}は",
    "{group}とかキモいわ",
    "{group}のやつ全員どっか行け",
    "{group}に人権ないってマジ？",
    "{group}ってなんであんな偉そうなの",
    "{group}は黙ってろって話",
    "{group}がまた騒いでて草",
    "正直{group}って{insult}しかいねえだろ",
]

OPENERS_POLITICS = [
    "また増税かよ",
    "政府は何やってんだよ",
    "選挙行った奴おる？",
    "首相の会見見たけど中身ゼロだったな",
    "国会中継つまんねえ",
    "与党も野党もどっちもどっちだろ",
    "憲法の話するとすぐ荒れるよな",
    "外交下手すぎじゃね",
    "議員の給料下げろよ",
    "支持率また下がったらしいな",
    "裏金とかいい加減にしろよ",
    "知事の会見長すぎだろ",
    "内閣改造とか誰が興味あんだよ",
    "防衛費の話ばっかだな最近",
    "政治家ってなんであんな昼寝してんの",
    "次の選挙で誰に入れるよ",
]

# Replies (later turns).  Generic ones can follow any opener.
REPLIES_GENERIC = [
    "それな",
    "わかる",
    "は？",
    "知らんがな",
    "ソースは？",
    "お前もな",
    "マジかよ",
    "嘘乙",
    "どうでもいいわ",
    "スレチだろ",
    "で？",
    "それはない",
    "ワイもそう思う",
    "あるあるすぎる",
    "いや普通だろ",
    "急にどうした",
    "ちょっとわかる",
    "ほんとそれ",
    "今さらかよ",
    "誰も聞いてねえぞ",
    "そんなん知るか",
    "俺もだわ",
    "ワイ氏、同意",
    "ええやん",
    "何言ってんだこいつ",
    "せやな",
    "だから何だよ",
    "一理ある",
    "むしろ逆だろ",
    "{you}が言うな",
    "{you}それ毎回言ってんな",
    "{you}暇かよ",
]

REPLIES_TOPIC = [
    "{line}はいつもそうだろ",
    "{line}乗ってたけど地獄だったわ",
    "{when}も{weather}とか勘弁しろ",
    "{weather}の日は家でゴロゴロに限る",
    "{shop}なら昨日行ったわ",
    "{shop}の店長がまた変なメニュー出してる",
    "{food}は{topping}派だわ",
    "{food}に{topping}は邪道だろ",
    "{game}なら俺もやってるぞ",
    "{game}とか課金しなきゃ無理じゃん",
    "{hobby}なら続いてるぞ",
    "{season}はまだマシだろ",
    "{day}休みとかうらやましいわ",
    "結局{pair}論争は終わらねえんだよ",
    "{food}食いたくなってきたじゃん",
    "うちの猫も同じことしてるわ",
    "犬は正義だろ",
    "たけのこの里が正義",
    "きのこの山しか勝たん",
    "朝型とか信じられん",
    "夜型だからその時間寝てるわ",
]

REPLIES_POLITICS = [
    "政治の話はよそでやれ",
    "政府に期待するだけ無駄だろ",
    "選挙行かねえ奴が文句言うなよ",
    "首相もう辞めろよ",
    "国会寝てる議員多すぎ",
    "与党が悪いに決まってんだろ",
    "野党もたいがいだぞ",
    "増税とかマジで勘弁",
    "憲法いじる前にやることあるだろ",
    "外交とかわからんけどヤバそう",
    "政治とか興味ねえわ",
    "どうせ次の選挙も変わらねえよ",
    "政党多すぎて覚えらんねえ",
    "公約守った奴おらんだろ",
]

# Rough add-ons, by lexicon category.  Cartoonish on purpose.
ADD_INSULT = [
    "{you}{insult}だろ",
    "{insult}かよ",
    "書いてる奴{insult}すぎ",
    "{insult}しかいねえのかこのスレ",
    "どうせ{insult}の戯言だろ",
    "{insult}は黙ってろ",
    "{you}ほんま{insult}やな",
    "頭悪すぎだろ",
    "頭おかしいんじゃねえの",
    "{insult}乙",
    "こいつ{insult}じゃん",
    "{insult}の自己紹介か？",
]
ADD_HARASS = [
    "キモすぎ",
    "キモいんだよ",
    "きもいわ",
    "ウザい",
    "うぜえ",
    "ざまあ",
    "ざまぁ",
    "メシウマ",
    "消えろ",
    "{you}もう消えろよ",
    "失せろ",
    "黙れ",
    "黙れよ{insult}",
    "{you}は黙ってろ",
    "帰れ",
    "出てけよ",
    "引っ込んでろ",
    "陰キャ乙",
    "ぼっち乙",
    "チー牛かよ",
    "ニワカ乙",
    "顔真っ赤で草",
    "涙目で草",
    "イタいわ",
    "イタいなお前",
    "ダサすぎ",
    "何様だよ",
    "負け惜しみ乙",
    "底辺の発想",
    "負け組の言い訳",
    "童貞くさい",
    "かまってちゃんかよ",
    "発狂してて草",
    "効いてる効いてる",
]
ADD_PROFANITY = [
    "クソが",
    "クソすぎ",
    "くそったれ",
    "クソ{line}",
    "このゲームクソだわ",
    "ちくしょう",
    "畜生め",
    "この野郎",
    "クソ野郎",
    "うんこみたいな味",
    "ケツ痛いわ",
    "ゲロ吐きそう",
    "ファック",
]
ADD_THREAT = [
    "次ネタバレしたらしばくぞ",
    "目覚まし時計ぶっ飛ばすぞ",
    "蚊は全員くたばれ",
    "花粉くたばれ",
    "{game}のボスぶん殴りたい",
    "ボス戦でボコボコにされたわ",
    "俺のプリン食ったやつ覚えてろ",
    "{you}しばくぞ",
]
ADD_GROUP = [
    "{group}の奴らは{insult}",
    "{group}とかキモいだけだろ",
    "どうせ{group}の仕業",
    "{group}はどっか行けよ",
    "老害乙",
    "ジジイは引っ込んでろ",
    "ババアうるせえ",
    "田舎者かよ",
    "{group}乙",
]
ADD_POLITICS = [
    "政府のせい",
    "これも全部政治が悪い",
    "増税のせいだろ",
    "選挙近いからな",
    "与党のせいにしとけ",
    "国会でやれよ",
    "首相に言え",
]
ADD_PLAIN = [
    "マジで",
    "ほんと",
    "知らんけど",
    "ガチで",
    "いや普通に",
    "なんなん",
    "やばい",
    "ワロタ",
]

# Probabilities tuned so that roughly 35-50% of posts carry a rough add-on,
# about 15% touch politics and about half laugh.
P_ROUGH = 0.46
P_LAUGH = 0.42
P_POLITICS_THREAD = 0.21
P_POLITICS_DRIFT = 0.04
P_GROUP_THREAD = 0.14
P_BR = 0.12
P_YOU = 0.09


def _rough(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.34:
        pool = ADD_INSULT
    elif roll < 0.70:
        pool = ADD_HARASS
    elif roll < 0.85:
        pool = ADD_PROFANITY
    elif roll < 0.93:
        pool = ADD_GROUP
    else:
        pool = ADD_THREAT
    return _fill(rng.choice(pool), B, rng)


def _decorate(core: str, rng: random.Random, rough: bool, politics: bool, address: bool) -> str:
    if core.endswith(("い", "る", "た")) and not core.endswith("来い") and rng.random() < 0.3:
        core += rng.choice(["わ", "ぞ", "よな", "じゃん", "だろ"])
    if address and rng.random() < P_YOU and not core.startswith(("お前", "おまえ", "てめえ")):
        core = rng.choice(["{you}さ、", "おい{you}、", "{you}、"]).replace("{you}", rng.choice(B["you"])) + core
    parts = [core]
    if politics:
        parts.append(_fill(rng.choice(ADD_POLITICS), B, rng))
    if rough:
        parts.append(_rough(rng))
    if rng.random() < 0.18:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(ADD_PLAIN))
    # separators: the newline marker, a comma, a space or nothing
    text = parts[0]
    for part in parts[1:]:
        roll = rng.random()
        if roll < P_BR:
            sep = BR
        elif roll < 0.45:
            sep = "、"
        elif roll < 0.75:
            sep = " "
        else:
            sep = ""
        text += sep + part
    if rng.random() < P_LAUGH:
        laugh = rng.choice(B["laugh"])
        if laugh[0] in "wｗ":
            text += laugh
        else:
            text += rng.choice(["", " "]) + laugh
    elif rng.random() < 0.08:
        text += "！"
    return text


def _post(opener: bool, kind: str, rng: random.Random) -> str:
    address = True  # may start with a rough "you" (お前さ、…)
    if opener:
        pool = {"neutral": OPENERS_NEUTRAL, "group": OPENERS_GROUP, "politics": OPENERS_POLITICS}[kind]
        core = _fill(rng.choice(pool), B, rng)
    else:
        roll = rng.random()
        if kind == "politics" and roll < 0.5:
            core = _fill(rng.choice(REPLIES_POLITICS), B, rng)
        elif kind == "group" and roll < 0.35:
            core = _fill(rng.choice(ADD_GROUP), B, rng)
        elif roll < 0.55:
            core = _fill(rng.choice(REPLIES_GENERIC), B, rng)
            address = False
        else:
            core = _fill(rng.choice(REPLIES_TOPIC), B, rng)
    if not opener and rng.random() < 0.07:
        return rng.choice(["草", "www", "ｗｗｗ", "草生える", "w", "大草原"])
    rough = rng.random() < P_ROUGH
    politics = kind != "politics" and rng.random() < P_POLITICS_DRIFT
    return _decorate(core, rng, rough, politics, address)


def build_board(rng: random.Random) -> list[str]:
    lines: list[str] = []
    seen: dict[str, None] = {}
    attempts = 0
    while len(lines) < BOARD_DIALOGUES:
        attempts += 1
        if attempts > 50 * BOARD_DIALOGUES:
            raise RuntimeError("board templates cannot produce enough unique dialogues")
        roll = rng.random()
        if roll < P_POLITICS_THREAD:
            kind = "politics"
        elif roll < P_POLITICS_THREAD + P_GROUP_THREAD:
            kind = "group"
        else:
            kind = "neutral"
        turns = rng.choices([2, 3, 4], weights=[5, 3, 2])[0]
        posts = [_post(True, kind, rng)] + [_post(False, kind, rng) for _ in range(turns - 1)]
        line = "\t".join(p.replace("\t", " ") for p in posts)
        if line in seen:
            continue
        seen[line] = None
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------


def render() -> dict[str, str]:
    """File name -> exact file content."""
    rng = random.Random(SEED)
    polite = build_polite(rng)
    board = build_board(rng)
    return {
        "polite.txt": "".join(line + "\n" for line in polite),
        "board.tsv": "".join(line + "\n" for line in board),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this script's folder)")
    args = parser.parse_args(argv)
    outputs = render()
    status = 0
    for name, text in outputs.items():
        path = args.out / name
        data = text.encode("utf-8")
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                print(f"{path}: differs from build_demo.py output", file=sys.stderr)
                status = 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path} ({text.count(chr(10))} lines)")
    return status


if __name__ == "__main__":
    sys.exit(main())
