"""Email addresses: one display form, one comparison key, both computed here and nowhere else.

Two spellings reach the same account exactly when their ``email_key`` is equal. The key is
computed in Python and stored (``User.email_key``, ``Invitation.email_key``) under a plain
UNIQUE constraint, so PostgreSQL only compares strings it was given: its own ``lower()``
(which depends on the collation and maps ``İ`` to ``i`` where Python gives ``i̇``) never
decides whether two addresses are one.
"""

from __future__ import annotations

import unicodedata

import idna

# An address a user may newly claim (sign-up, email change, invitation) is ASCII once
# normalised: NFKC turns full-width letters, the Kelvin sign and the long s into ASCII, and an
# IDN domain becomes its A-label (punycode). What is left that is not ASCII is a non-ASCII
# local part, which Django's validator lets through for exactly the letters whose case
# mapping is ASCII (U+0130 and U+0131, dotted capital and dotless small i): the look-alikes
# of ``i``. They are refused.
NOT_ASSIGNABLE_MESSAGE = "Use an address whose part before the @ is plain ASCII."


def _domain_ascii(domain: str) -> str:
    """The domain's lower-case A-label form (UTS #46, non-transitional: ``ß`` stays ``ß``, so
    ``faß.de`` and ``fass.de`` stay two domains, as DNS has them)."""
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return domain.lower()  # not a valid IDN: validation refuses it where it matters


def normalize_email(raw: str) -> str:
    """The display and delivery form: trimmed, NFKC, the domain as lower-case A-label.

    The local part keeps its case (mail is delivered to what the user typed); compare with
    :func:`email_key`, never with this.
    """
    value = unicodedata.normalize("NFKC", (raw or "").strip())
    local, sep, domain = value.rpartition("@")
    if not sep:
        return value
    return f"{local}@{_domain_ascii(domain)}"


def _fold(text: str) -> str:
    # NFKC_Casefold in effect: case folding can produce sequences NFKC composes again.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def email_key(raw: str) -> str:
    """The comparison key of an address: :func:`normalize_email`, then the local part
    case-folded (full Unicode case folding, after NFKC). Lookups, the unique constraint,
    invitations bound to an address, rate limits and the lockout all use this key.

    For the ASCII addresses that can be claimed (:func:`email_is_assignable`) this is simply
    the lower-cased address. Folding matters for lookups typed with other characters and for
    accounts created before non-ASCII local parts were refused.
    """
    value = normalize_email(raw)
    local, sep, domain = value.rpartition("@")
    if not sep:
        return _fold(value)
    return f"{_fold(local)}@{domain}"


def email_is_assignable(address: str) -> bool:
    """Whether a normalised address may become an account's or an invitation's address."""
    return normalize_email(address).isascii()
