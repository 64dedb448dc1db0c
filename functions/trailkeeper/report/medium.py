"""The report's view-model values, laid out by both email templates (report/templates/): each knows its text form
(`str()`) and its HTML form (`__html__`, the protocol Jinja2's autoescape and MarkupSafe call), so a template
never chooses an escaping and never marks anything safe.

- `Untrusted`: attacker-controlled text (a CloudTrail value, an S3 key, an operator's suppression reason) through
  trailkeeper.sanitise, the one sanitiser: control, separator and format characters out, shortened visibly, and
  for HTML escaped by it (quotes included).
- `Line`: trailkeeper's own wording with values in it. Its text form fills them in; its HTML form escapes the
  wording and fills in each value's HTML form (MarkupSafe's format escapes what is not already markup).
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from trailkeeper import sanitise

EMPTY = "(none)"


@dataclass(frozen=True)
class Untrusted:
    raw: str
    limit: int | None = sanitise.MAX_VALUE_CHARS
    empty: str = EMPTY  # shown for a value that is empty once sanitised (trailkeeper's own word)

    def __str__(self) -> str:
        return sanitise.text(self.raw, self.limit) or self.empty

    def __html__(self) -> Markup:
        # sanitise.html escaped it (html.escape, quotes included): Markup only stops a second escaping
        return Markup(sanitise.html(self.raw, self.limit)) or escape(self.empty)  # noqa: S704


@dataclass(frozen=True)
class Line:
    wording: str  # a str.format pattern with positional {} fields, trailkeeper's own text
    values: tuple[object, ...] = ()

    def __str__(self) -> str:
        return self.wording.format(*(str(value) for value in self.values))

    def __html__(self) -> Markup:
        return escape(self.wording).format(*self.values)


def line(wording: str, *values: object) -> Line:
    return Line(wording, values)


def joined(values: list[Untrusted] | tuple[Untrusted, ...], separator: str = ", ") -> Line:
    """Values in one line, `separator` between them."""
    return Line(separator.join("{}" for _ in values), tuple(values))
