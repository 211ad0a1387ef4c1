"""Reviewing a change before it merges: what ``reconciler plan`` shows.

    source (git refs) -> compare (pure) -> cluster (optional dry run) -> text | markdown | json

``compare`` turns two rendered revisions into one SpecChange per spec, with field diffs of
every object, plain-words consequences (``narrate``) and risk notes (``risks``).
"""

from reconciler.review.compare import Side, compare, render_side
from reconciler.review.jsonformat import format_json
from reconciler.review.markdown import format_markdown
from reconciler.review.model import Review, Revision, SpecChange, SpecChangeKind
from reconciler.review.text import format_text

__all__ = [
    "Review",
    "Revision",
    "Side",
    "SpecChange",
    "SpecChangeKind",
    "compare",
    "format_json",
    "format_markdown",
    "format_text",
    "render_side",
]
