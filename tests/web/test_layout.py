"""The dashboard's pages laid out in a real browser (Debian's Chromium via Playwright), at a
desktop width (1280 px) and a phone width (390 px): nothing overlaps, nothing scrolls sideways,
a heading never sits on the controls above it. Screenshots go to ``artifacts/screenshots/``.

What "overlap" means here: within each block of ``main``, no two visible siblings' boxes (their
line boxes, for inline elements that wrap) intersect. Siblings are what CSS lays out side by
side or one after another; two of them sharing pixels is text drawn over text or a button over
a heading, whatever the cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clients import uv_publish
from factories import make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
WIDTHS = (1280, 390)

#: The layout problems of the page, as a list of sentences (empty: none).
LAYOUT_JS = """
() => {
  const problems = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > window.innerWidth) {
    problems.push(`scrolls sideways: ${root.scrollWidth} > ${window.innerWidth}`);
  }
  const visible = (el) => {
    const cs = getComputedStyle(el);
    // A table's columns span its rows by definition: they are not boxes of their own.
    if (cs.display.startsWith('table-column')) return false;
    if (cs.display === 'none' || cs.visibility === 'hidden' || cs.position === 'absolute' || cs.position === 'fixed') return false;
    if (el.closest('details:not([open]) > :not(summary)')) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
    ` "${(el.innerText || el.value || '').trim().slice(0, 30)}"`;
  const boxes = (el) => {
    const cs = getComputedStyle(el);
    const rects = cs.display === 'inline' ? [...el.getClientRects()] : [el.getBoundingClientRect()];
    return rects.filter((r) => r.width > 0 && r.height > 0);
  };
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const main = document.querySelector('main');
  for (const parent of [main, ...main.querySelectorAll('*')]) {
    if (!visible(parent) && parent !== main) continue;
    const kids = [...parent.children].filter(visible);
    for (let i = 0; i < kids.length; i++) {
      for (let j = i + 1; j < kids.length; j++) {
        if (boxes(kids[i]).some((a) => boxes(kids[j]).some((b) => hit(a, b)))) {
          problems.push(`${name(kids[i])} overlaps ${name(kids[j])}`);
        }
      }
    }
    // Nothing pokes out of its block sideways (a table or a long filename would).
    const pr = parent.getBoundingClientRect();
    const cs = getComputedStyle(parent);
    if (cs.overflowX === 'visible' && cs.display !== 'inline' && parent.tagName !== 'TR') {
      for (const k of kids) {
        const kr = k.getBoundingClientRect();
        if (kr.right > pr.right + 1) problems.push(`${name(k)} sticks out of ${name(parent)} by ${Math.round(kr.right - pr.right)} px`);
      }
    }
  }
  // A heading needs room above it: controls run into it otherwise.
  for (const h of main.querySelectorAll('h2, h3')) {
    let prev = h.previousElementSibling;
    while (prev && !visible(prev)) prev = prev.previousElementSibling;
    if (prev && h.getBoundingClientRect().top - prev.getBoundingClientRect().bottom < 12) {
      problems.push(`${name(h)} sits ${Math.round(h.getBoundingClientRect().top - prev.getBoundingClientRect().bottom)} px under ${name(prev)}`);
    }
  }
  return problems;
}
"""


def layout_problems(page) -> list[str]:
    return page.evaluate(LAYOUT_JS)


def layout_at_widths(page, url: str, name: str) -> dict[int, list[str]]:
    """Load ``url`` at each width and screenshot it: the layout problems found per width."""
    found = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 860})
        page.goto(url)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"layout-{name}-{width}.png"), full_page=True)
        problems = layout_problems(page)
        if problems:
            found[width] = problems
    return found


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/signin?next=/teams/acme/")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(f"{base}/teams/acme/")


@pytest.fixture
def seeded(stack, accounts, tmp_path):
    """acme/main with a project of several versions whose files have long names."""
    accounts.sign_up("alice@example.com", PASSWORD)
    dist = tmp_path / "dist"
    dist.mkdir()
    wheels = [
        make_wheel(dist, "a-rather-long-project-name-for-widgets", "1.0", summary="Widgets"),
        make_wheel(
            dist,
            "a-rather-long-project-name-for-widgets",
            "2.0.0rc1",
            summary="Widgets",
            classifiers=["License :: OSI Approved :: MIT License", "Programming Language :: Python :: 3"],
            requires=["requests>=2", "click"],
            extra="License: MIT\nProject-URL: Source, https://example.com/src\n",
        ),
    ]
    token = stack.token(created_by="cli", description="release bot")
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", token, *wheels).returncode == 0
    return stack


def test_the_layout_holds_at_desktop_and_phone_widths(seeded, page):
    base = seeded.url
    sign_in(page, base, "alice@example.com")
    found = {}
    for path, name in [
        ("/teams/acme/", "team"),
        ("/teams/acme/indexes/main/", "index"),
        ("/teams/acme/indexes/main/projects/a-rather-long-project-name-for-widgets/", "project"),
        ("/teams/acme/tokens/", "my-tokens"),
        ("/teams/acme/admin/tokens", "api-tokens"),
        ("/teams/acme/admin/upstream", "upstream"),
        ("/teams/acme/admin/members", "members"),
        ("/teams/acme/admin/publishers", "publishers"),
        ("/teams/acme/admin/views", "views"),
    ]:
        if problems := layout_at_widths(page, f"{base}{path}", name):
            found[name] = problems
    assert not found, "\n".join(f"{n} at {w} px: {p}" for n, at in found.items() for w, p in at.items())


def test_the_checker_sees_overlap_and_sideways_scroll(seeded, page):
    """The check itself can fail: a heading pulled over a table, and a too-wide block."""
    sign_in(page, seeded.url, "alice@example.com")
    page.set_viewport_size({"width": 390, "height": 860})
    page.goto(f"{seeded.url}/teams/acme/")
    assert layout_problems(page) == []
    page.evaluate("document.querySelector('main h2').style.marginBottom = '-40px'")
    problems = layout_problems(page)
    assert any("overlaps" in p or "px under" in p for p in problems), problems
    # (The CSP refuses inline style attributes; styles set from script apply.)
    page.evaluate(
        "const p = document.createElement('p'); p.textContent = 'x'; p.style.width = '900px';"
        "document.querySelector('main').append(p)"
    )
    problems = layout_problems(page)
    assert any("scrolls sideways" in p for p in problems), problems


def test_the_upstream_pages_hold_their_layout_too(seeded, page):
    """A proxied project's page (cache state, cooldown note, a long filename) and the upstream
    page with its probe's messages, at both widths."""
    import datetime as dt

    import requests

    from bale.upstream.service import Upstreams
    from fakes.upstream import Upstream

    up = Upstream().start()
    try:
        up.faults["a-long-upstream-project-name"].add("html_only")
        up.add("a-long-upstream-project-name", "1.0", age=dt.timedelta(days=30))
        up.add("pip", "24.0")
        ups = Upstreams(seeded.stores, seeded.settings)
        ups.set_upstream("acme", "main", url=up.index_url, min_age=86400)
        token = seeded.token("read")
        r = requests.get(
            f"{seeded.url}/simple/acme/main/a-long-upstream-project-name/",
            auth=("__token__", token),
            timeout=30,
        )
        assert r.status_code == 200
        sign_in(page, seeded.url, "alice@example.com")
        found = {}
        url = f"{seeded.url}/teams/acme/indexes/main/projects/a-long-upstream-project-name/"
        if problems := layout_at_widths(page, url, "proxied"):
            found["proxied"] = problems
        assert page.locator("#cooldown-note").is_visible()
        # Saving shows the probe's findings as messages above the forms.
        page.goto(f"{seeded.url}/teams/acme/admin/upstream")
        page.get_by_role("button", name="Check upstream").click()
        page.wait_for_selector(".flash")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 860})
            page.screenshot(path=str(SHOTS / f"layout-upstream-probed-{width}.png"), full_page=True)
            if problems := layout_problems(page):
                found[f"upstream-probed-{width}"] = problems
        assert not found, found
    finally:
        up.stop()
