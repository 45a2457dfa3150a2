"""Keep docs/data-contract.md honest (in the spirit of Datasette's tests/test_docs.py).

Upstream systems write the shared database from that document alone, so it must
say exactly what the models and vocabularies say: every table, every column with
its type, nullability, meaning and HXL hashtag, every vocabulary value and every
referral deadline. Each check is a function returning a list of problems, so the
last tests can prove that the checks catch a drifted document.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, DateTime, Float, Integer, String, Text

from dashboard.contract import schema, vocab
from dashboard.contract.models import Base

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "data-contract.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

TABLES = sorted(Base.metadata.tables)
COLUMN_HEADER = ["column", "type", "null", "meaning", "HXL"]

# Vocabularies that are unions of others, documented through their parts.
DERIVED_VOCABULARIES = {"ALL_EVACUATION_STAGES": ("EVACUATION_STAGES", "EVACUATION_BRANCHES")}
VOCABULARIES = sorted(
    name for name, value in vars(vocab).items()
    if name.isupper() and isinstance(value, dict)
    and all(isinstance(v, str) for v in value.values())
    and name not in DERIVED_VOCABULARIES
)


# --- parsing --------------------------------------------------------------------------------


def sections(text: str, level: int) -> dict[str, str]:
    """Body of each heading of the given level (up to the next heading of that level or
    higher), keyed by the heading's text without backticks and without any "— ..." tail."""
    out: dict[str, str] = {}
    pattern = re.compile(rf"^(#{{1,{level}}}) (.+)$", re.M)
    matches = list(pattern.finditer(text))
    for i, m in enumerate(matches):
        if len(m.group(1)) != level:
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        title = m.group(2).split(" — ")[0].replace("`", "").strip()
        out[title] = text[m.end():end]
    return out


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in text, as rows of cells (header first, separator dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def unquote(cell: str) -> str:
    return cell.strip().strip("`").strip()


def column_rows(section: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The column table of a table's section: rows by column name, and the names in order."""
    found = [t for t in markdown_tables(section) if t[0] == COLUMN_HEADER]
    if len(found) != 1:
        return {}, []
    rows, order = {}, []
    for cells in found[0][1:]:
        row = dict(zip(COLUMN_HEADER, cells, strict=False))
        name = unquote(row["column"])
        rows[name] = row
        order.append(name)
    return rows, order


def vocabulary_rows(section: str) -> dict[str, list[str]]:
    """The first table of a vocabulary section, by value (backticks removed)."""
    tables = markdown_tables(section)
    if not tables or tables[0][0][:2] != ["value", "meaning"]:
        return {}
    header = tables[0][0]
    return {unquote(cells[0]): dict(zip(header, cells, strict=False)) for cells in tables[0][1:]}


def doc_type(column: Column) -> str:
    t = column.type
    if isinstance(t, Boolean):
        return "boolean"
    if isinstance(t, Integer):
        return "integer"
    if isinstance(t, Float):
        return "real"
    if isinstance(t, DateTime):
        return "timestamp (UTC)"
    if isinstance(t, String) and t.length:
        return f"text({t.length})"
    if isinstance(t, Text | String):
        return "text"
    raise AssertionError(f"no documented type for {column.table.name}.{column.name}: {t!r}")


# --- checks: each returns the problems found in a document text ------------------------------


def table_section_problems(text: str) -> list[str]:
    documented = sections(sections(text, 2).get("Tables", ""), 3)
    problems = [f"no section for table {t}" for t in TABLES if t not in documented]
    problems += [f"section for a table the models do not have: {t}"
                 for t in documented if t not in Base.metadata.tables]
    return problems


def column_problems(text: str, table_name: str) -> list[str]:
    section = sections(sections(text, 2).get("Tables", ""), 3).get(table_name)
    if section is None:
        return [f"no section for table {table_name}"]
    rows, order = column_rows(section)
    if not rows:
        return [f"{table_name}: no column table with header {' | '.join(COLUMN_HEADER)}"]
    table = Base.metadata.tables[table_name]
    problems = [f"{table_name}.{c} documented twice" for c in set(order) if order.count(c) > 1]
    for column in table.columns:
        where = f"{table_name}.{column.name}"
        row = rows.get(column.name)
        if row is None:
            problems.append(f"{where} is not documented")
            continue
        expected = {
            "type": doc_type(column),
            "null": "yes" if column.nullable else "no",
            "meaning": column.doc,
            "HXL": column.info.get("hxl", ""),
        }
        for field, value in expected.items():
            cell = row.get(field, "").strip()
            if (cell if field == "meaning" else unquote(cell)) != value:
                problems.append(f"{where}: {field} is {row.get(field)!r}, the model says {value!r}")
    problems += [f"{table_name}.{c} is documented but the model has no such column"
                 for c in rows if c not in table.columns]
    if not problems and order != [c.name for c in table.columns]:
        problems.append(f"{table_name}: columns not in the models' order")
    return problems


def vocabulary_problems(text: str, name: str) -> list[str]:
    section = sections(sections(text, 2).get("Vocabularies", ""), 3).get(name)
    if section is None:
        return [f"no section for vocabulary {name}"]
    rows = vocabulary_rows(section)
    values: dict[str, str] = getattr(vocab, name)
    problems = [f"{name}: value {v!r} is not documented" for v in values if v not in rows]
    problems += [f"{name}: {v!r} is documented but not in the vocabulary"
                 for v in rows if v not in values]
    problems += [f"{name}: meaning of {v!r} is {rows[v]['meaning']!r}, vocab.py says {m!r}"
                 for v, m in values.items() if v in rows and rows[v]["meaning"] != m]
    return problems


def deadline_problems(text: str) -> list[str]:
    section = sections(sections(text, 2).get("Vocabularies", ""), 3).get("REFERRAL_SERVICES", "")
    rows = vocabulary_rows(section)
    problems = []
    for service, hours in vocab.REFERRAL_DEADLINE_HOURS.items():
        cell = rows.get(service, {}).get("deadline (hours)")
        if cell is None:
            problems.append(f"no deadline documented for service {service}")
        elif cell != str(hours):
            problems.append(f"deadline of {service} is {cell} h in the doc, {hours} h in vocab.py")
    return problems


# --- the document matches the code ----------------------------------------------------------


def test_every_table_has_a_section_and_no_other():
    assert table_section_problems(DOC) == []


@pytest.mark.parametrize("table_name", TABLES)
def test_columns_match_the_models(table_name):
    assert column_problems(DOC, table_name) == []


def test_every_column_has_a_meaning():
    """The doc copies `doc`; a column without one would leave writers guessing."""
    missing = [f"{t.name}.{c.name}" for t in Base.metadata.tables.values()
               for c in t.columns if not c.doc]
    assert missing == []


@pytest.mark.parametrize("name", VOCABULARIES)
def test_vocabulary_is_documented(name):
    assert vocabulary_problems(DOC, name) == []


def test_derived_vocabularies_are_unions_of_documented_ones():
    for name, parts in DERIVED_VOCABULARIES.items():
        merged: dict[str, str] = {}
        for part in parts:
            merged.update(getattr(vocab, part))
        assert getattr(vocab, name) == merged


def test_every_vocabulary_value_appears_in_the_vocabularies_section():
    vocabularies = sections(DOC, 2)["Vocabularies"]
    for name, values in vars(vocab).items():
        if name.isupper() and isinstance(values, dict | tuple):
            for value in values:
                assert f"`{value}`" in vocabularies, f"{name}: {value!r} not in Vocabularies"


def test_vocabularies_named_in_column_meanings_are_documented():
    documented = sections(sections(DOC, 2)["Vocabularies"], 3)
    for table in Base.metadata.tables.values():
        for column in table.columns:
            for word in re.findall(r"\b[A-Z][A-Z_]{3,}\b", column.doc or ""):
                if word in DERIVED_VOCABULARIES or word == "REFERRAL_DEADLINE_HOURS":
                    continue
                if isinstance(getattr(vocab, word, None), dict):
                    assert word in documented, f"{table.name}.{column.name} names {word}"


def test_referral_deadlines_match():
    assert deadline_problems(DOC) == []


def test_sensitive_and_consular_services_are_marked():
    rows = vocabulary_rows(sections(sections(DOC, 2)["Vocabularies"], 3)["REFERRAL_SERVICES"])
    for service in vocab.REFERRAL_SERVICES:
        sensitive = "yes" if service in vocab.SENSITIVE_SERVICES else "no"
        consular = "yes" if service in vocab.CONSULAR_SERVICES else "no"
        assert rows[service]["sensitive"] == sensitive, service
        assert rows[service]["consular liaison may see"] == consular, service


def test_documents_needing_a_travel_document_are_named():
    section = sections(sections(DOC, 2)["Vocabularies"], 3)["DOCUMENTS"]
    intro = section.split("|", 1)[0]
    for value in vocab.DOCUMENTS_NEEDING_TRAVEL_DOCUMENT:
        assert f"`{value}`" in intro, value


def test_referral_ended_statuses_are_named():
    section = sections(sections(DOC, 2)["Vocabularies"], 3)["REFERRAL_STATUSES"]
    intro = section.split("|", 1)[0]
    for status in vocab.REFERRAL_ENDED:
        assert f"`{status}`" in intro, status


def test_evacuation_path_is_documented_in_order():
    section = sections(sections(DOC, 2)["Vocabularies"], 3)["EVACUATION_STAGES"]
    assert tuple(vocabulary_rows(section)) == vocab.EVACUATION_PATH


def test_schema_version_is_the_migrations_head():
    match = re.search(r"\*\*Version `([^`]+)`\*\*", DOC)
    assert match, "the document does not state its version"
    assert match.group(1) == schema.expected_version()


# --- the checks catch drift -----------------------------------------------------------------


def _without_line(text: str, line: str) -> str:
    assert line in text, line
    return text.replace(line + "\n", "", 1)


def test_a_removed_column_line_is_caught():
    line = next(ln for ln in DOC.splitlines() if ln.startswith("| `consent_consular` |"))
    assert any("not documented" in p for p in column_problems(_without_line(DOC, line),
                                                             "persons"))


def test_an_extra_column_line_is_caught():
    extra = "| `residence_status` | text(16) | no | must never exist |  |\n"
    line = next(ln for ln in DOC.splitlines() if ln.startswith("| `consent_consular` |"))
    drifted = DOC.replace(line + "\n", line + "\n" + extra, 1)
    assert any("no such column" in p for p in column_problems(drifted, "persons"))


def test_a_changed_hxl_or_nullability_is_caught():
    line = next(ln for ln in DOC.splitlines() if ln.startswith("| `phone` |"))
    assert column_problems(DOC.replace(line, line.replace("#contact+phone", "#contact")),
                           "persons")
    assert column_problems(DOC.replace(line, line.replace("| yes |", "| no |")), "persons")


def test_a_removed_table_section_is_caught():
    drifted = DOC.replace("### `hazards`", "### `hazard_zones`", 1)
    problems = table_section_problems(drifted)
    assert "no section for table hazards" in problems
    assert "section for a table the models do not have: hazard_zones" in problems


def test_a_removed_vocabulary_value_or_wrong_deadline_is_caught():
    line = next(ln for ln in DOC.splitlines() if ln.startswith("| `no_show` |"))
    assert vocabulary_problems(_without_line(DOC, line), "EVACUATION_BRANCHES")
    line = next(ln for ln in DOC.splitlines() if ln.startswith("| `gbv` | gender"))
    assert deadline_problems(DOC.replace(line, line.replace("| 120 |", "| 72 |")))
