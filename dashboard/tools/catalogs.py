"""The translation catalogs, with Babel (the library Python projects use for gettext
catalogs): extract every marked string of the code into the template
(dashboard/locale/sitroom.pot), update each language's catalog from it (new strings
empty, changed ones fuzzy, old ones kept as obsolete), and compile the catalogs the
package ships (`.mo`). `sitroom catalogs all` does the three; docs/translating.md
says when. tests/test_catalogs.py fails when the template is behind the code, a
catalog misses a translation, has a fuzzy one or breaks a placeholder, or a compiled
catalog is behind its `.po`.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from dashboard.language import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE

ROOT = LOCALE_DIR.parent.parent  # the project: dashboard/, components/, pages/, app.py
# What a reader can see: the code, never the tests or the benchmarks.
METHOD_MAP = [("app.py", "python"), ("dashboard/**.py", "python"),
              ("components/**.py", "python"), ("pages/**.py", "python")]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2),
            "pgettext": ((1, "c"), 2), "NC_": ((1, "c"), 2)}
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
COMMENT_TAG = "Translators:"  # a comment starting so, above a string, reaches its translator


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(code: str) -> Path:
    return po_path(code).with_suffix(".mo")


def translated() -> list[str]:
    """The languages with a catalog: every language but the code's own."""
    return [code for code in LANGUAGES if code != SOURCE]


def extract() -> Catalog:
    """Every marked string of the code, with where it is used."""
    catalog = Catalog(project="Situation Room", version="1", copyright_holder="Situation Room",
                      domain=DOMAIN, charset="utf-8", fuzzy=False)
    for name, line, message, comments, context in extract_from_dir(
            str(ROOT), method_map=METHOD_MAP, keywords=KEYWORDS,
            comment_tags=(COMMENT_TAG,), strip_comment_tags=True):
        catalog.add(message, None, [(name, line)], auto_comments=comments, context=context)
    return catalog


def template_text(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, sort_output=True,
             include_lineno=False)
    return out.getvalue()


def write_template() -> Path:
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_bytes(template_text(extract()))
    return TEMPLATE


def read(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as source:
        return read_po(source, locale=locale, domain=DOMAIN)


def update() -> list[Path]:
    """Each language's catalog brought up to the template: a new language starts empty."""
    template = read(TEMPLATE)
    written = []
    for code in translated():
        path = po_path(code)
        if path.exists():
            catalog = read(path, code)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=code, domain=DOMAIN, project="Situation Room",
                              version="1", copyright_holder="Situation Room",
                              charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header: a fuzzy one is left out of the compiled catalog
        out = io.BytesIO()
        write_po(out, catalog, width=100, sort_output=True, include_lineno=False,
                 ignore_obsolete=True)
        path.write_bytes(out.getvalue())
        written.append(path)
    return written


def compiled(code: str) -> bytes:
    out = io.BytesIO()
    write_mo(out, read(po_path(code), code), use_fuzzy=False)
    return out.getvalue()


def compile_all() -> list[Path]:
    written = []
    for code in translated():
        mo_path(code).write_bytes(compiled(code))
        written.append(mo_path(code))
    return written
