"""core.markdown: what MGX puts into the markdown it writes (an app's name, log lines, error
text) renders as exactly that text, never as markup, in the chat's own renderer — the vendored
marked with the chat's options, run by Node (which `./mgx test` installs)."""
import html
import json
import random
import re
import string
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from core.markdown import md_code, md_code_block, md_text

MARKED = Path(settings.BASE_DIR) / "static" / "vendor" / "marked" / "marked.umd.js"
# static/js/chat.js renders with these options.
RENDER = """
const {marked} = require(process.argv[1]);
const sources = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(sources.map((s) => marked.parse(s, {gfm: true, breaks: true, async: false}))));
"""

NASTY = [
    'Pwn <b data-hx-post=/accounts/profile/keys/ data-hx-trigger=load data-hx-vals=\'{"title":"n"}\'>x</b>',
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<!-- hidden -->", "<div>\n\nblock</div>",
    "**bold** _em_ ~~del~~ `code`", "[click](javascript:alert(1))", "![img](/accounts/)", "[ref]\n\n[ref]: /x",
    "# heading", "> quote", "- item", "1. item", "---", "===", "***", "    indented", "\tindented",
    "| a | b |\n|---|---|\n| 1 | 2 |", "&amp; &lt;b&gt; &#60;i&#62; &copy;", "back\\slash\\", "two  \nlines",
    "www.example.com", "https://example.com/?a=1&b=2", "<https://example.com>", "mail@example.com",
    "```\nfence\n```", "~~~\nfence\n~~~", "``` `` ` ````", "line\u2028separator", "a\r\nb\rc",
    "Bob's \"app\" {x} (y) [z] <w> #1 @me $5 %d ^2 +1 =0 |p| ~t ;:,.?!", "     ", "",
]


def rendered(sources: list[str]) -> list[str]:
    done = subprocess.run(["node", "-e", RENDER, str(MARKED)], input=json.dumps(sources), capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def random_texts(alphabet: str, count: int) -> list[str]:
    rnd = random.Random(24)  # the same texts every run
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40))) for _ in range(count)]


def test_inline_text_renders_as_itself_on_one_line():
    texts = NASTY + random_texts(string.punctuation * 4 + string.ascii_letters + "  \n\t\u00e9\u4e2d", 400)
    # Inside a sentence, as MGX uses it; a paragraph's edges lose their spaces in any renderer.
    out = rendered([f"Name: ({md_text(t)})." for t in texts])
    for text, got in zip(texts, out):
        match = re.fullmatch(r"<p>(.*)</p>\n", got, re.S)
        assert match and "<" not in match.group(1), (text, got)
        assert html.unescape(match.group(1)) == "Name: (" + " ".join(text.splitlines()) + ").", (text, got)


def test_a_code_span_renders_as_itself_on_one_line():
    texts = [t for t in NASTY if t.strip()] + random_texts("`" * 10 + " <>&*_\n" + string.ascii_letters, 300)
    texts = [t for t in texts if " ".join(t.splitlines()).strip(" ")]
    out = rendered([f"Tool: {md_code(t)}." for t in texts])
    for text, got in zip(texts, out):
        match = re.fullmatch(r"<p>Tool: <code>(.*)</code>\.</p>\n", got, re.S)
        assert match and "<" not in match.group(1), (text, got)
        assert html.unescape(match.group(1)) == " ".join(text.splitlines()), (text, got)


def test_a_code_block_shows_every_line_verbatim_and_cannot_be_closed_early():
    texts = [t for t in NASTY if t.strip() and "\r" not in t] + random_texts(
        "`" * 12 + "~<>&\"'*_#- \n" + string.ascii_letters, 300)
    texts = [t for t in texts if t.strip("\n")]
    out = rendered(["The log:\n\n" + md_code_block(t) + "\n\nAfter." for t in texts])
    for text, got in zip(texts, out):
        match = re.fullmatch(r"<p>The log:</p>\n<pre><code>(.*)</code></pre>\n<p>After\.</p>\n", got, re.S)
        assert match, (text, got)
        assert html.unescape(match.group(1)) == text.rstrip("\n") + "\n", (text, got)


@pytest.mark.parametrize("text, fence", [("plain", "```"), ("a ``` b", "````"), ("``````", "```````")])
def test_the_fence_is_longer_than_any_backtick_run(text, fence):
    assert md_code_block(text) == f"{fence}\n{text}\n{fence}"
