"""What holds for every page: headers (CSP, no-store, the service's security headers), CSRF,
language, accessible markup, no inline script, self-hosted assets, and a catalogue that says
what the German pages say."""

from __future__ import annotations

import ast
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Session, User
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, text

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/login",
    "/signup",
    "/forgot-password",
    "/reset-password?token=made-up",
    "/magic-link?token=made-up",
    "/verify-email?status=verified",
    "/verify-email?status=password_removed",
    "/verify-email?status=email_changed",
    "/verify-email?status=invalid&reason=expired",
    "/verify-email?token=made-up",
    "/report-compromise?token=made-up",
    "/invitations/accept?token=made-up",
]
POSTS = [
    "/signup",
    "/login",
    "/login/mfa",
    "/logout",
    "/forgot-password",
    "/reset-password",
    "/magic-link",
    "/verify-email",
    "/report-compromise",
    "/invitations/accept",
]


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.html_lang = ""
        self.h1 = 0
        self.inputs: list[dict[str, str]] = []
        self.labels: set[str] = set()
        self.inline_scripts = 0
        self.script_srcs: list[str] = []
        self.inline_styles = 0
        self.handlers: list[str] = []
        self.forms: list[dict[str, str]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        self.handlers += [name for name in found if name.startswith("on")]
        if "style" in found:
            self.inline_styles += 1
        if tag == "html":
            self.html_lang = found.get("lang", "")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "input":
            self.inputs.append(found)
        elif tag == "label" and "for" in found:
            self.labels.add(found["for"])
        elif tag == "style":
            self.inline_styles += 1
        elif tag == "form":
            self.forms.append(found)
        elif tag == "script":
            if "src" in found:
                self.script_srcs.append(found["src"])
            else:
                self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def markup(response) -> _Markup:
    parser = _Markup()
    parser.feed(response.content.decode())
    return parser


def csp_directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_headers(path):
    response = Client().get(path)
    assert response.status_code in (200, 400), response.status_code
    policy = csp_directives(response)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["form-action"].split() == ["'self'", *settings.TRUSTED_ORIGINS]
    assert "no-store" in response["Cache-Control"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"] and "Cookie" in response["Vary"]
    assert response["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_accessible_markup_without_inline_code(path):
    response = Client().get(path)
    assert response.status_code in (200, 400)
    assert "Content-Security-Policy" in response  # one of ours, not Django's 404 page
    page = markup(response)
    assert page.html_lang == "en"
    assert page.h1 == 1
    assert page.inline_scripts == 0 and page.inline_styles == 0 and page.handlers == []
    assert all(src.startswith("/static/pages/") for src in page.script_srcs)
    visible = [i for i in page.inputs if i.get("type") not in ("hidden", "submit")]
    for field in visible:
        assert field.get("id") in page.labels, field  # every field has its label
    for form in page.forms:  # works without JavaScript: a real POST to a real page
        assert form.get("method") == "post" and form.get("action", "").startswith("/")


def test_the_signed_in_page_too(user_factory):
    user = user_factory()
    browser = Browser()
    browser.submit("/login", {"email": user.email, "password": PASSWORD})
    page = browser.show("/")
    parsed = markup(page)
    assert parsed.h1 == 1 and parsed.inline_scripts == 0 and parsed.handlers == []
    assert parsed.script_srcs == ["/static/pages/webauthn-json.js", "/static/pages/passkey-add.js"]
    assert 'id="passkey-add" hidden' in page.content.decode()  # shown by the script only
    assert "no-store" in page["Cache-Control"]


@pytest.mark.parametrize("path", POSTS)
def test_a_post_without_the_csrf_token_is_refused(path, user_factory):
    user = user_factory()
    browser = Browser()
    response = browser.post(path, {"email": user.email, "password": PASSWORD, "token": "x"})
    assert response.status_code == 403
    assert not Session.objects.filter(user=user).exists()
    assert not browser.signed_in()


def test_a_post_with_a_token_from_another_browser_is_refused(user_factory):
    user = user_factory()
    attacker = Browser()
    attacker.show("/login")
    victim = Browser()
    response = victim.post(
        "/login",
        {"csrfmiddlewaretoken": attacker.csrf, "email": user.email, "password": PASSWORD},
    )
    assert response.status_code == 403 and not victim.signed_in()


@pytest.mark.parametrize(
    "asset", ["pages.css", "webauthn-json.js", "passkey-login.js", "passkey-add.js"]
)
def test_the_assets_are_self_hosted(asset):
    response = Client().get(f"/static/pages/{asset}")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join(response.streaming_content).decode()
    assert "http://" not in body and "https://" not in body  # nothing fetched from elsewhere


@pytest.mark.parametrize(
    ("accept", "lang", "heading"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Anmelden"),
        ("de-AT", "de", "Anmelden"),
        ("en-GB,en;q=0.9", "en", "Sign in"),
        ("fr-FR", "en", "Sign in"),
        ("", "en", "Sign in"),
    ],
)
def test_the_language_follows_accept_language(accept, lang, heading):
    response = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/login")
    assert markup(response).html_lang == lang
    assert response["Content-Language"] == lang
    assert f"<h1>{heading}</h1>" in response.content.decode()


def test_a_signed_in_account_is_spoken_to_in_its_language(user_factory):
    user = user_factory(locale="de")
    browser = Browser(HTTP_ACCEPT_LANGUAGE="en")
    browser.submit("/login", {"email": user.email, "password": PASSWORD})
    page = browser.show("/")
    assert markup(page).html_lang == "de" and "Du bist angemeldet" in text(page)
    assert User.objects.get(pk=user.pk).locale == "de"


def test_error_messages_in_german():
    browser = Browser(HTTP_ACCEPT_LANGUAGE="de")
    browser.show("/login")
    response = browser.submit("/login", {"email": "x@example.com", "password": "wrong-one-1"})
    assert "Die E-Mail-Adresse oder das Passwort stimmt nicht." in text(response)
    assert "Da stimmt etwas nicht" in text(response)


# --- The German catalogue -------------------------------------------------------------------

LOCALE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"


def _po_entries(path: Path) -> dict[object, object]:
    """msgid (or (msgid, msgid_plural)) → msgstr (or list), from a .po file; fuzzy flagged."""
    entries: dict[object, object] = {}
    for block in path.read_text().split("\n\n"):
        fields: dict[str, str] = {}
        current = ""
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith('"'):
                fields[current] += ast.literal_eval(line)
                continue
            current, _, rest = line.partition(" ")
            fields[current] = ast.literal_eval(rest)
        if not fields.get("msgid"):
            continue
        assert not fuzzy, f"fuzzy entry: {fields['msgid']!r}"
        if "msgid_plural" in fields:
            entries[(fields["msgid"], fields["msgid_plural"])] = [
                fields["msgstr[0]"],
                fields["msgstr[1]"],
            ]
        else:
            entries[fields["msgid"]] = fields["msgstr"]
    return entries


def test_every_german_string_is_translated_and_compiled():
    entries = _po_entries(LOCALE / "django.po")
    assert len(entries) > 100
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in entries.items():
        if isinstance(msgid, tuple):
            assert all(msgstr), msgid
            assert compiled.ngettext(*msgid, 1) == msgstr[0], msgid
            assert compiled.ngettext(*msgid, 2) == msgstr[1], msgid
        else:
            assert msgstr, f"untranslated: {msgid!r}"
            assert compiled.gettext(msgid) == msgstr, f"the .mo is stale: {msgid!r}"
        # The same placeholders on both sides.
        source = msgid if isinstance(msgid, str) else msgid[0]
        target = msgstr if isinstance(msgstr, str) else msgstr[0]
        assert sorted(re.findall(r"%\(\w+\)[sd]", source)) == sorted(
            re.findall(r"%\(\w+\)[sd]", target)
        ), msgid


_TRANSLATE = re.compile(r"""\{%\s*translate\s+(["'])(.*?)\1""", re.S)
_BLOCK = re.compile(r"\{%\s*blocktranslate\b([^%]*)%\}(.*?)\{%\s*endblocktranslate\s*%\}", re.S)
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_GETTEXT = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext"}


def _source_msgids() -> set[object]:
    """Every string the pages mark for translation, as makemessages would extract it."""
    base = Path(settings.BASE_DIR)
    found: set[object] = set()
    for template in (base / "templates" / "pages").glob("*.html"):
        source = template.read_text()
        found.update(match.group(2) for match in _TRANSLATE.finditer(source))
        for match in _BLOCK.finditer(source):
            body = _VARIABLE.sub(lambda m: f"%({m.group(1)})s", match.group(2))
            singular, plural_tag, plural = body.partition("{% plural %}")
            found.add((singular, plural) if plural_tag else singular)
    for package in ("accounts/pages", "spaces/pages"):
        for module in (base / package).glob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) in _GETTEXT
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                        found.add((node.args[0].value, node.args[1].value))
                    else:
                        found.add(node.args[0].value)
    return found


def test_every_string_the_pages_mark_is_in_the_catalogue():
    """A page text added without ``make messages`` would show English on a German page."""
    marked = _source_msgids()
    assert len(marked) > 100
    missing = marked - set(_po_entries(LOCALE / "django.po"))
    assert missing == set(), "run `make messages` and translate: " + repr(sorted(map(str, missing)))
