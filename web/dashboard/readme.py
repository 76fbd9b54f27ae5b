"""A project's long description as safe HTML, the way PyPI renders it.

readme_renderer cleans its output (nh3, an allow-list of tags and attributes),
so the HTML returned here can be inserted into a page as it is.
"""

from __future__ import annotations

import email.message
import io

from markupsafe import Markup


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    msg = email.message.EmailMessage()
    msg["content-type"] = value or "text/x-rst"
    return msg.get_content_type(), dict(msg["content-type"].params)


def render(description: str | None, content_type: str | None) -> Markup | None:
    """HTML for a description, or None when there is none."""
    from readme_renderer import markdown, rst, txt

    if not description or not description.strip():
        return None
    ctype, params = _content_type(content_type)
    html = None
    if ctype == "text/markdown":
        variant = params.get("variant", "GFM")
        html = markdown.render(description, variant=variant if variant in ("GFM", "CommonMark") else "GFM")
    elif ctype == "text/x-rst":
        # Invalid reStructuredText renders as None (and writes warnings to the stream).
        html = rst.render(description, stream=io.StringIO())
    if html is None:
        html = txt.render(description)
    return Markup(html) if html else None
