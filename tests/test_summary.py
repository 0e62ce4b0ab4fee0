"""`iac plan --summary`: what a reviewer reads in a pull request comment (issue 23.8). It fits in a GitHub
comment, and no allowlist comment can turn into a mention, an issue reference, a link or HTML: checked with
GitHub's own Markdown parser (cmark-gfm)."""

from __future__ import annotations

import html.parser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from test_apply import CONFIG

pytestmark = pytest.mark.terraform

HOSTILE = [
    "@acme/security ping #123 and www.evil.example and https://evil.example/x and ops@evil.example",
    "<script>alert(1)</script> <img src=x onerror=alert(1)> <!-- hidden -->",
    "[click](javascript:alert(1)) ![i](http://evil.example/y.png) [ref]: http://evil.example",
    "`code` ``two`` ``` | pipe \\| escaped `",
    "\u202eRLO\u202c \u200bzero-width \u2066isolate\u2069 \u00adsoft-hyphen",
    "**bold** _em_ ~~strike~~ :tada: &amp; &#64;team",
]
ALLOWED_TAGS = {"h2", "h3", "p", "strong", "em", "table", "thead", "tbody", "tr", "th", "td", "code"}


class Page(html.parser.HTMLParser):
    """The tags of rendered HTML, the text outside code spans, and the table rows' cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.outside_code: list[str] = []
        self.rows: list[list[str]] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._code += tag == "code"
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        self._code -= tag == "code"

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.outside_code.append(data)
        if self.rows and self.rows[-1] and data.strip():
            self.rows[-1][-1] += data

    def handle_comment(self, data: str) -> None:
        self.tags.add("<!--")


def github_html(markdown: str) -> Page:
    rendered = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    page = Page()
    page.feed(rendered)
    return page


def plan_summary(cli, tmp_path: Path, allowlist: str) -> str:
    config = tmp_path / "iac.yaml"
    out = tmp_path / "build"
    config.write_text(CONFIG)
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    config.write_text(CONFIG + allowlist)
    summary = tmp_path / "summary.md"
    result = cli("plan", "-c", config, "-o", out, "--summary", summary)
    assert result.exit_code == 2, result.output
    return summary.read_text(encoding="utf-8")


def test_hostile_comments_render_inert(cli, tmp_path: Path, builtin_deployment) -> None:
    entries = "".join(f"  - 81.2.69.{10 * n}/32  # {comment}\n" for n, comment in enumerate(HOSTILE, start=1))
    text = plan_summary(cli, tmp_path, entries)
    page = github_html(text)
    assert page.tags <= ALLOWED_TAGS, f"HTML a reviewer did not write: {page.tags - ALLOWED_TAGS}"
    outside = "".join(page.outside_code)
    for formed in ("@", "#123", "www.", "http", "javascript", "<", "&#64;", ":tada:"):
        assert formed not in outside, f"{formed!r} outside a code span: GitHub would make it a mention or link"
    rows = [row for row in page.rows if row and row[0] == "added"]
    assert len(rows) == len(HOSTILE)
    assert all(len(row) == 3 for row in rows), "a comment added a table cell"
    shown = {row[1]: row[2] for row in rows}
    assert shown["81.2.69.10/32"] == HOSTILE[0]
    assert shown["81.2.69.40/32"] == "`code` ``two`` ``` | pipe \\| escaped `", "the comment reads as written"
    # Invisible and bidirectional characters are shown by name, never passed through.
    assert (
        shown["81.2.69.50/32"] == "<U+202E>RLO<U+202C> <U+200B>zero-width <U+2066>isolate<U+2069> <U+00AD>soft-hyphen"
    )
    for character in "\u202e\u202c\u200b\u2066\u2069\u00ad":
        assert character not in text


def test_a_1500_address_rotation_fits_in_a_comment_and_says_what_was_left_out(
    cli, tmp_path: Path, builtin_deployment
) -> None:
    entries = "".join(
        f"  - 81.{n // 250}.{n % 250}.{8 + 16 * (n % 2)}/32  # site {n:04d}, partner NAT gateway, rack B\n"
        for n in range(1500)
    )
    text = plan_summary(cli, tmp_path, entries)
    assert len(text) < 60_000
    assert "### Allowlist: 1500 added, 0 removed" in text
    assert "more of 1500 addresses left out to keep this summary short" in text
    page = github_html(text)
    listed = [row for row in page.rows if row and row[0] == "added"]
    assert 10 <= len(listed) < 1500
    assert f"_{1500 - len(listed):,} more of 1500 addresses left out" in text
    assert "**CDN cache:**" in text and "**Plan digest:**" in text, "what follows the long tables is kept"


def test_a_summary_that_fits_lists_everything(cli, tmp_path: Path, builtin_deployment) -> None:
    entries = "".join(f"  - 81.2.{n}.8/32  # site {n}\n" for n in range(40))
    text = plan_summary(cli, tmp_path, entries)
    assert "left out" not in text
    assert sum(1 for line in text.splitlines() if line.startswith("| added |")) == 40
