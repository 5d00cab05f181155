"""The dashboard's German catalogue holds every message its templates and code show.

Messages are extracted the way Babel extracts them for a catalogue: templates with
Jinja2's extractor, Python with the `_`, `gettext` and `N_` markers. A message
without a German translation fails here, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import refnet.services.dashboard as dashboard
from refnet.services.dashboard.rendering import DOMAIN, environment
from refnet.services.i18n.translations import LOCALE_DIR

PACKAGE = Path(dashboard.__file__).parent
CATALOGUE = LOCALE_DIR / "de" / "LC_MESSAGES" / f"{DOMAIN}.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "translate": (2,)}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
METHODS = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "silent": "false"}}


def used_messages() -> Iterator[tuple[str, int, str]]:
    """(file, line, message) for every literal message the dashboard marks."""
    found = extract_from_dir(PACKAGE, METHODS, options_map=OPTIONS, keywords=KEYWORDS)
    for filename, lineno, message, _comments, _context in found:
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                yield filename, lineno, text


def german() -> dict[str, str]:
    with CATALOGUE.open("rb") as po:
        catalog = read_po(po, locale="de", domain=DOMAIN)
    assert catalog.locale is not None and str(catalog.locale) == "de"
    assert catalog.charset.lower() == "utf-8"
    found: dict[str, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        # A plural message counts as translated by its first form.
        text = message.string if isinstance(message.string, str) else (message.string or [""])[0]
        found[str(message.id if isinstance(message.id, str) else message.id[0])] = text
    return found


def test_extraction_sees_the_templates_and_the_code() -> None:
    files = {filename for filename, _, _ in used_messages()}
    assert "templates/base.html" in files
    assert "session.py" in files  # the refusal pages' N_ messages
    assert any(text == "Sign out" for _, _, text in used_messages())


def test_every_message_has_a_german_translation() -> None:
    translated = german()
    missing = sorted(
        {f"{filename}:{lineno}: {text!r}" for filename, lineno, text in used_messages()
         if not translated.get(text)}
    )  # fmt: skip
    assert not missing, "no German translation in dashboard.po for:\n" + "\n".join(missing)


def test_the_catalogue_keeps_the_placeholders_of_each_message() -> None:
    for english, deutsch in german().items():
        wanted, given = sorted(PLACEHOLDER.findall(english)), sorted(PLACEHOLDER.findall(deutsch))
        assert wanted == given, f"{english!r} -> {deutsch!r}"


def test_the_german_environment_translates_and_the_english_one_does_not() -> None:
    template = '{{ _("Sign out") }}'
    assert environment("de").from_string(template).render() == "Abmelden"
    assert environment("en").from_string(template).render() == "Sign out"
