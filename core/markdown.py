"""Text that MGX puts into markdown it writes itself, so that it stays the text it is.

The chat renders the team's messages, run summaries and errors as markdown (marked + DOMPurify
in the browser). When MGX writes one of those and puts in something it does not author — an
app's name, a username, an exception's text, a container's log lines, a tool's error — that
value must not become markdown or HTML: an app named `<b data-hx-post=…>` would otherwise be
HTML in the chat of everyone who opens the app (the browser strips what is dangerous, but the
name would not read as it was typed). Two ways in, both exact under CommonMark and marked:

- `md_text(value)`: inline text. Every ASCII punctuation character is backslash-escaped
  (CommonMark §2.4: any of them may be, and the backslash then disappears), so no `<`, `*`,
  `[`, `` ` ``, `&` or `|` starts anything, and line breaks become spaces (a line starting with
  `#` or `>` would start a block).
- `md_code(value)`: the same, as an inline code span (names: a tool, a path), delimited by more
  backticks than any run in the value (§6.1).
- `md_code_block(value)`: a fenced code block whose fence is longer than any run of backticks
  in the value, so no line of it can close the block early (§4.5); its lines show verbatim.
"""
import re

_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_BACKTICKS = re.compile(r"`+")


def md_text(value) -> str:
    """`value` as markdown inline text that renders exactly as `value` (on one line)."""
    text = " ".join(str(value).splitlines())
    return _PUNCTUATION.sub(r"\\\1", text)


def md_code(value) -> str:
    """`value` as an inline code span that shows exactly `value` (on one line)."""
    text = " ".join(str(value).splitlines())
    if not text.strip(" "):
        return md_text(text)  # a code span of nothing but spaces has no way to say so
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    # One space inside each end is dropped again: it keeps a backtick or space at an end its own.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_code_block(value, *, info: str = "") -> str:
    """`value` as a fenced code block that shows every line of it verbatim."""
    text = str(value).rstrip("\n")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"
