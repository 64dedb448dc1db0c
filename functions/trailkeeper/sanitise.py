"""The one sanitiser for attacker-controlled text (docs/threat-model.md): CloudTrail values, S3 keys, alarm
reasons, execution causes. One character rule set, escaped per medium:

- text (email text twin) and terminal: control characters (Cc) and the line/paragraph separators (Zl, Zp) become a
  space so words stay apart; format characters (Cf: bidi overrides and isolates, zero-width marks, the BOM) are
  removed; a lone surrogate, which no email or terminal can encode, becomes U+FFFD. Then text is shortened
  visibly to a length cap; terminal output is not (statements and causes are shown whole).
- HTML: the text rules, then `html.escape` (quotes included).
- CSV cell: the text rules without the cap (the file holds every value whole), then a cell a spreadsheet could
  read as a formula gets a leading `'` (OWASP "CSV injection"). Spreadsheets skip leading white space (NBSP
  included) before a formula, and read the fullwidth forms of = + - @ as the ASCII ones, so both count.
"""

from __future__ import annotations

import html as _html
import unicodedata

MAX_VALUE_CHARS = 120
ELLIPSIS = "…"
# Cells a spreadsheet may evaluate: OWASP lists = + - @ TAB CR; LF is added for the same reason as CR, and the
# fullwidth forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) because spreadsheets normalise them to the ASCII ones.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_TO_SPACE = frozenset({"Cc", "Zl", "Zp"})
_DROP = frozenset({"Cf"})


def inert(value: str) -> str:
    """`value` under the character rules alone: no control, separator or format character, no lone surrogate."""
    return "".join(_inert_char(ch) for ch in value)


def text(value: str, limit: int | None = MAX_VALUE_CHARS) -> str:
    """`value` for plain text or a terminal: the character rules, then at most `limit` characters plus a visible
    ellipsis (no cap with limit=None)."""
    cleaned = inert(value)
    return cleaned if limit is None or len(cleaned) <= limit else cleaned[:limit] + ELLIPSIS


def terminal(value: str) -> str:
    """`value` for an operator's terminal: the text rules, whole (an escape sequence must not drive the terminal,
    a statement or a cause is shown in full)."""
    return text(value, limit=None)


def html(value: str, limit: int | None = MAX_VALUE_CHARS) -> str:
    """`value` for an HTML element or attribute: the text rules, then escaped."""
    return _html.escape(text(value, limit), quote=True)


def csv_cell(value: str) -> str:
    """`value` for a CSV cell a person opens in a spreadsheet (the csv module does the quoting)."""
    cleaned = inert(value)
    return "'" + cleaned if _reads_as_formula(cleaned) else cleaned


def _reads_as_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS) or cell.lstrip().startswith(FORMULA_STARTS)


def _inert_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in _TO_SPACE:
        return " "
    if category in _DROP:
        return ""
    if category == "Cs":  # a lone surrogate cannot be encoded into the email at all
        return "\ufffd"
    return ch
