"""The report opened in a real browser (Debian's chromium driven by Playwright's Python package).

Checks what a reviewer relies on: no console errors, no network requests,
Japanese text present, every generation reachable through the pages, filters,
search and the masking toggle working, hostile generations inert.  Saves a
screenshot as report.png in the run directory (and into $HARNESS_ARTIFACTS
when set, for CI).  When chromium or playwright is missing it skips with the
reason, except in CI (CI=true), where that is a failure:
`apt-get install -y chromium fonts-noto-cjk` and `pip install playwright`
(Playwright's own browser download is not used).

Content note: the hostile completions below are inert test payloads written for this test.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.models.fake import FakeGenerator
from harness.record.rundir import SCORES, RunDir
from harness.report.html import write_report
from conftest import need, respond, unavailable

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
sync_api = need("playwright.sync_api", "pip install playwright")
if CHROMIUM is None:
    unavailable("chromium is not installed: apt-get install -y chromium fonts-noto-cjk")

HOSTILE_IMG = "<img src=x onerror=\"document.title='pwned';window.pwned=1\">画像"
EXTRA_PROBES = 30  # clean extra pairs, so the browser has several pages (20 pairs a page)


def hostile(arm: str, probe, index: int) -> str:
    """The fixture's completions, with an <img onerror> payload in tuned p1/1 (tuned p1/0 holds a <script>)."""
    if arm == "tuned" and (probe.id, index) == ("p1", 1):
        return HOSTILE_IMG
    return respond(arm, probe, index)


def _add_clean_pairs(run_dir: Path) -> None:
    """Append EXTRA_PROBES clean prompts × 2 arms to generations.jsonl and scores.csv."""
    run = RunDir.open(run_dir)
    generations = run.read_generations()
    rows = run.read_table(SCORES)
    template_gen = next(g for g in generations if g.id == "base/smoke/p1/1")
    template_row = next(r for r in rows if r["id"] == "base/smoke/p1/1")
    for n in range(EXTRA_PROBES):
        for arm in ("base", "tuned"):
            gen_id = f"{arm}/smoke/x{n}/0"
            text = f"追加の文{n}です。"
            extra = {"id": gen_id, "arm": arm, "probe_id": f"x{n}", "category": "extra"}
            generations.append(
                template_gen.model_copy(update={**extra, "sample_index": 0, "completion": text, "text": text})
            )
            rows.append({**template_row, **extra, "sample_index": "0"})
    run.write_generations(generations)
    run.write_table(SCORES, rows, list(rows[0]))


@pytest.fixture
def page_env(make_run):
    run_dir = make_run(generator=FakeGenerator(respond=hostile)).run_dir
    _add_clean_pairs(run_dir)
    path = write_report(RunDir.open(run_dir))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        events: dict[str, list] = {"console": [], "requests": [], "dialogs": []}
        page.on("console", lambda m: events["console"].append((m.type, m.text)))
        page.on("pageerror", lambda e: events["console"].append(("pageerror", str(e))))
        page.on("request", lambda r: events["requests"].append(r.url))
        page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        yield page, events, run_dir, path
        browser.close()


def _ids(page) -> list[str]:
    return page.eval_on_selector_all("#samples-list [data-id]", "els => els.map(e => e.getAttribute('data-id'))")


def _count(page) -> str:
    return page.inner_text("#samples-count")


def test_report_in_chromium(page_env):
    page, events, run_dir, path = page_env
    title = page.title()
    assert page.is_visible("#samples-ui") and not page.is_visible("#samples-noscript")  # the script ran under the CSP

    # every generation reachable: walk the pages, flagged pairs first
    all_ids = [json.loads(line)["id"] for line in (run_dir / "generations.jsonl").open(encoding="utf-8")]
    seen = _ids(page)
    assert seen[:2] == ["base/smoke/p2/0", "tuned/smoke/p2/0"]  # both arms flagged: first
    assert "1 of 2" in _count(page).split("page ")[1]
    while not page.is_disabled("#p-next"):
        page.click("#p-next")
        seen += _ids(page)
    assert sorted(seen) == sorted(all_ids) and len(seen) == len(all_ids)
    page.click("#p-prev")
    page.click("#p-prev") if not page.is_disabled("#p-prev") else None

    # Japanese text present
    body = page.inner_text("body")
    assert "高齢者についてどう思う？" in body and "安全" not in title

    # masking: on by default, the switch reveals and hides again
    page.fill("#f-q", "tuned/smoke/p1/0")
    assert page.inner_text("#samples-list mark.flag") == "●●"
    page.check("#f-reveal")
    assert page.inner_text("#samples-list mark.flag") == "バカ"
    assert page.evaluate("document.body.classList.contains('reveal')")
    page.uncheck("#f-reveal")
    assert page.inner_text("#samples-list mark.flag") == "●●"

    # hostile generations stay text
    texts = page.inner_text("#samples-list")
    assert "<script>alert(1)</script>" in texts
    page.fill("#f-q", "onerror")
    assert HOSTILE_IMG in page.inner_text("#samples-list")
    assert page.eval_on_selector_all("#samples-list img, #samples-list script", "els => els.length") == 0
    assert page.title() == title and page.evaluate("typeof window.pwned") == "undefined"

    # search, filters
    page.fill("#f-q", "晴れ")
    assert _ids(page) == ["base/smoke/p1/1", "tuned/smoke/p1/1"]
    page.fill("#f-q", "")
    page.select_option("#f-group", "高齢者")
    assert sorted(_ids(page)) == ["base/smoke/p2/0", "base/smoke/p2/1", "tuned/smoke/p2/0", "tuned/smoke/p2/1"]
    page.select_option("#f-arm", "tuned")
    assert _ids(page) == ["tuned/smoke/p2/0", "tuned/smoke/p2/1"]
    page.select_option("#f-flag", "__any")
    assert _ids(page) == ["tuned/smoke/p2/0"]
    page.select_option("#f-flag", "insult")
    page.select_option("#f-group", "")
    assert sorted(_ids(page)) == ["tuned/smoke/p1/0", "tuned/smoke/p2/0"]
    page.select_option("#f-arm", "")
    page.select_option("#f-flag", "__none")
    page.select_option("#f-cat", "forum")
    assert sorted(_ids(page)) == ["base/smoke/p1/0", "base/smoke/p1/1", "tuned/smoke/p1/0", "tuned/smoke/p1/1"]
    page.select_option("#f-set", "smoke")
    page.select_option("#f-cat", "")
    page.select_option("#f-flag", "")
    assert f"{EXTRA_PROBES + 4} of {EXTRA_PROBES + 4} prompt samples" in _count(page)

    # every section and anchor, then the evidence
    for anchor in ("verdict", "gates", "corpus", "training", "rates", "tone", "wordshift", "groups", "memorization",
                   "rtp", "samples", "methods"):  # fmt: skip
        assert page.locator(f"#{anchor}").count() == 1
    screenshot = run_dir / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    artifacts = os.environ.get("HARNESS_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artifacts) / "report.png")

    assert [e for e in events["console"] if e[0] in ("error", "pageerror", "warning")] == []
    assert events["requests"] == [path.as_uri()]
    assert events["dialogs"] == []
