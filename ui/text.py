"""Text from a link, a file or an error message, made safe to put into Streamlit markdown.

Streamlit renders the body of ``st.warning``/``st.error``/``st.markdown`` as GitHub-flavoured markdown: a URL
value echoed as is could close a code span, draw a link or an image (which every visitor's browser then fetches),
start a heading or a table. Backslash escapes are not enough: GFM turns a bare ``https://…`` into a link even when
its punctuation is escaped. ``literal`` puts the text into an inline code span instead, fenced by one backtick more
than the longest run inside it; nothing in a code span is markup, so the text shows exactly as typed.
"""

from __future__ import annotations

import re

MAX_ECHO = 120  # characters of an echoed value shown at most


def literal(text: object, limit: int = MAX_ECHO) -> str:
    """``text`` as an inline code span that renders exactly as the text (cut to ``limit`` characters, runs of
    whitespace and line breaks as one space)."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    if not s:
        return "“”"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" else ""  # CommonMark strips one such space from each side
    return f"{fence}{pad}{s}{pad}{fence}"
