"""MkDocs hook: render the documentation's LaTeX as MathML when the site is built.

`pymdownx.arithmatex` (generic mode) leaves every formula as
`<span class="arithmatex">\\(...\\)</span>` or `<div class="arithmatex">\\[...\\]</div>`.
This hook converts each one to MathML with `latex2mathml` (pure Python, in the `docs`
extra), which browsers render natively: the built site needs no JavaScript and no network
to show its equations. A formula the converter cannot render fails the build with the
page and the formula named, so `mkdocs build --strict` catches it.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

_ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
# latex2mathml keeps a command delimiter as text after a size command (\Big\langle):
# give it the character instead.
_SIZED = re.compile(
    r"(\\[Bb]igg?[lr]?)\s*\\(langle|rangle|lvert|rvert|lVert|rVert|\{|\}|\|)(?![A-Za-z])"
)
_DELIMITER = {
    "langle": "\u27e8",
    "rangle": "\u27e9",
    "lvert": "|",
    "rvert": "|",
    "lVert": "\u2016",
    "rVert": "\u2016",
    "{": "{",
    "}": "}",
    "|": "\u2016",
}
# A text node that still holds a backslash is a command the converter did not know.
_UNCONVERTED = re.compile(r">[^<]*\\[^<]*<")


def _prepare(tex: str) -> str:
    tex = re.sub(r"\\\n", r"\\ ", tex)  # backslash-newline is a control space in TeX
    return _SIZED.sub(lambda m: m.group(1) + _DELIMITER[m.group(2)], tex)


def to_mathml(tex: str, display: bool) -> str:
    """MathML for one formula (without its `\\(`/`\\[` delimiters); ValueError if unrendered."""
    out = convert(_prepare(tex), display="block" if display else "inline")
    if "<merror" in out or _UNCONVERTED.search(out):
        raise ValueError(f"latex2mathml could not render {tex!r}")
    return out


def _replace(match: re.Match[str], where: str) -> str:
    tag = match.group(1)
    source = html.unescape(match.group(2)).strip()
    opening, closing = source[:2], source[-2:]
    if (opening, closing) not in ((r"\(", r"\)"), (r"\[", r"\]")):
        raise PluginError(f"{where}: math without \\( \\) or \\[ \\] delimiters: {source!r}")
    try:
        mathml = to_mathml(source[2:-2], display=opening == r"\[")
    except Exception as error:  # the converter raises several types for bad input
        raise PluginError(f"{where}: cannot render the formula {source!r}: {error}") from error
    return f'<{tag} class="arithmatex">{mathml}</{tag}>'


def on_page_content(html_text: str, page, config, files) -> str:  # noqa: ARG001
    return _ARITHMATEX.sub(lambda m: _replace(m, page.file.src_uri), html_text)
