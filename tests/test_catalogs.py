"""The translation catalogs: none behind the code, none missing a translation or holding
a fuzzy one, every placeholder kept, and the compiled catalogs the package ships made
from the catalogs as they are (docs/translating.md)."""

from __future__ import annotations

import re
import string

import pytest
from babel.messages.mofile import read_mo

from dashboard import language
from dashboard.tools import catalogs

LANGUAGES = catalogs.translated()


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def test_the_template_holds_every_marked_string_of_the_code():
    in_code = _ids(catalogs.extract())
    in_template = _ids(catalogs.read(catalogs.TEMPLATE))
    assert in_code - in_template == set(), "run `sitroom catalogs all`"
    assert in_template - in_code == set(), "run `sitroom catalogs all`"


def test_every_language_the_switch_offers_has_a_catalog():
    assert set(LANGUAGES) == set(language.LANGUAGES) - {language.SOURCE}
    for code in LANGUAGES:
        assert catalogs.po_path(code).exists(), code
        assert catalogs.mo_path(code).exists(), code


@pytest.mark.parametrize("code", LANGUAGES)
def test_a_catalog_translates_every_string_and_holds_no_fuzzy_one(code):
    template = _ids(catalogs.read(catalogs.TEMPLATE))
    catalog = catalogs.read(catalogs.po_path(code), code)
    untranslated, fuzzy = [], []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert template - _ids(catalog) == set(), f"{code}: run `sitroom catalogs update`"
    assert untranslated == [], f"{code}: {len(untranslated)} untranslated"
    assert fuzzy == [], f"{code}: {len(fuzzy)} fuzzy"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("code", LANGUAGES)
def test_a_translation_keeps_every_field_of_its_string(code):
    broken = []
    for message in catalogs.read(catalogs.po_path(code), code):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(_fields(i) for i in ids))
        for translated in strings:
            try:
                found = _fields(translated)
            except ValueError as exc:  # an unbalanced brace: the page would fail
                broken.append((message.id, translated, str(exc)))
                continue
            # A plural form may leave out the count ("one person"), never add a field.
            if found - wanted or (len(ids) == 1 and found != wanted):
                broken.append((message.id, translated, sorted(found ^ wanted)))
    assert broken == []


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_shipped_compiled_catalog_is_the_catalog_as_it_is(code):
    def key(value):  # a plural's forms: a tuple read from .po, a list from .mo
        return tuple(value) if isinstance(value, list | tuple) else value

    with open(catalogs.mo_path(code), "rb") as shipped:
        compiled = {(m.context, key(m.id)): key(m.string) for m in read_mo(shipped) if m.id}
    expected = {(m.context, key(m.id)): key(m.string)
                for m in catalogs.read(catalogs.po_path(code), code) if m.id and not m.fuzzy}
    assert compiled == expected, f"{code}: run `sitroom catalogs compile`"


def test_markup_and_placeholders_in_the_template_are_well_formed():
    for message in catalogs.read(catalogs.TEMPLATE):
        for text in (message.id if isinstance(message.id, tuple) else (message.id,)):
            if not text:
                continue
            _fields(text)  # raises on an unbalanced brace
            assert not re.search(r"\{\d*\}", text), f"unnamed field in {text!r}"


# docs/design.md §2.9 in every language: "irregular", never "illegal", and no word of
# anyone's immigration status.
ENFORCEMENT_WORDS = {
    "fr": ["illégal", "clandestin", "sans-papiers", "statut migratoire"],
    "es": ["ilegal", "clandestino", "indocumentado", "estatus migratorio",
           "situación migratoria"],
    "pt": ["ilegal", "clandestino", "indocumentado", "status migratório",
           "situação migratória"],
    "ar": ["غير شرعي", "غير شرعيين", "غير قانوني", "متسلل", "الوضع القانوني"],
}


@pytest.mark.parametrize("code", LANGUAGES)
def test_no_translation_speaks_of_enforcement_or_status(code):
    catalog = catalogs.po_path(code).read_text(encoding="utf-8").lower()
    found = [w for w in ENFORCEMENT_WORDS[code] if w in catalog]
    assert found == []


def test_no_marked_string_hides_inside_an_f_string():
    """Babel reads no code inside an f-string: `f"{_('…')}"` would never reach a catalog
    and would stay English in every language."""
    import io
    import tokenize

    hidden = []
    for pattern in ("app.py", "dashboard/**/*.py", "components/**/*.py", "pages/**/*.py"):
        for path in catalogs.ROOT.glob(pattern):
            with open(path, "rb") as source:
                for token in tokenize.tokenize(io.BytesIO(source.read()).readline):
                    prefix = token.string[:2].lower()
                    if token.type == tokenize.STRING and "f" in prefix and re.search(
                            r"\b(_|N_|gettext|ngettext)\(", token.string):
                        hidden.append(f"{path.relative_to(catalogs.ROOT)}:{token.start[0]}")
    assert hidden == []
