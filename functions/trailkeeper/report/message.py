"""The report email as the MIME message SES sends: built once by BuildReport (reports/D/email.eml), sent byte for
byte by SendReport (SES v2 SendEmail, Content.Raw) and copied as is by the local run (OUT/<D>/email.eml).

multipart/alternative, the plain-text twin first and the HTML last (RFC 2046 5.1.4: the last part is the one
preferred), both UTF-8 and quoted-printable: SES takes raw lines of at most 1,000 characters and wants content
outside 7-bit ASCII encoded (botocore's sesv2 model, RawMessage.Data). The headers are trailkeeper's own: the
subject comes from the view model (catalog titles, validated account ids, counts), From and To from the
validated ReportSender and ReportRecipients; no CloudTrail text is ever in a header, and a header value with a
line break is refused rather than folded into a second header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from trailkeeper.errors import InvalidInput

# RFC 5322 line endings and RFC 2047 encoded words for any non-ASCII header text: the message is 7-bit ASCII.
POLICY = SMTP


def email_message(
    sender: str, recipients: Sequence[str], subject: str, text: str, html: str, *, date: dt.datetime
) -> bytes:
    """The bytes of the report email."""
    for name, value in (("subject", subject), ("sender", sender), *(("recipient", r) for r in recipients)):
        if any(ch in value for ch in "\r\n\x00"):
            raise InvalidInput(f"the email {name} {value!r} has a line break: refused, it could add a header")
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # A boundary from the content, not random: a re-run writes the same bytes. It starts with "==", which
    # quoted-printable never emits ("=" is encoded "=3D"), so it cannot occur inside either part.
    message.set_boundary("==trailkeeper-" + hashlib.sha256(f"{text}\0{html}".encode()).hexdigest()[:32])
    return message.as_bytes()
