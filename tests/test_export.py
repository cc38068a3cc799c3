"""Export: hostile text from the web or an input file never becomes a spreadsheet formula."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, contacts, domains
from leadpipe.export import export

# One business per dangerous first character OWASP names, each on a domain of its own.
HOSTILE_NAMES = {
    "equals.example": '=HYPERLINK("http://x","y")',
    "plus.example": "+1+cmd|' /C calc'!A0",
    "minus.example": "-2+3",
    "at.example": "@SUM(1+1)",
    "tab.example": "\t=1+1",
    "cr.example": "\r=1+1",
}
PHONE = "+49 30 1234"
TITLE = '=HYPERLINK("http://x","y")'
PLAIN_TITLE = "Plain; =1+2 \x01"  # a control character the page's title kept


@pytest.fixture
def hostile(db: Database) -> Database:
    """Businesses named as an attacker would name them, a hostile page title, and a phone."""
    with db.begin() as connection:
        for name, business in HOSTILE_NAMES.items():
            domain_id = connection.execute(
                insert(domains).values(name=name, title=TITLE).returning(domains.c.id)
            ).scalar_one()
            connection.execute(insert(businesses).values(name=business, domain_id=domain_id))
            connection.execute(
                insert(contacts),
                [
                    {"domain_id": domain_id, "kind": "email", "value": f"info@{name}", "confidence": 0.9},
                    {"domain_id": domain_id, "kind": "phone", "value": PHONE, "confidence": 0.9},
                ],
            )
        domain_id = connection.execute(
            insert(domains).values(name="plain.example", title=PLAIN_TITLE).returning(domains.c.id)
        ).scalar_one()
        connection.execute(insert(businesses).values(name="Acme, Inc.", domain_id=domain_id))
        connection.execute(
            insert(contacts), [{"domain_id": domain_id, "kind": "email", "value": "info@plain.example"}]
        )
    return db


def test_csv_cells_that_would_start_a_formula_are_prefixed_with_a_quote(
    hostile: Database, tmp_path: Path
) -> None:
    output = tmp_path / "leads.csv"
    export(hostile, output, "csv", per_domain=True)

    with output.open(newline="", encoding="utf-8") as exported:
        rows = {row["domain"]: row for row in csv.DictReader(exported)}
    for domain, business in HOSTILE_NAMES.items():
        assert rows[domain]["business"] == "'" + business
        assert rows[domain]["title"] == "'" + TITLE
        assert rows[domain]["phone"] == "'" + PHONE  # OWASP's rule, phones included (see the README)
    assert rows["plain.example"]["business"] == "Acme, Inc."
    assert rows["plain.example"]["title"] == PLAIN_TITLE
    # Every field is quoted, so a spreadsheet splitting on ";" cannot make "=1+2" a cell of its own.
    assert f'"{PLAIN_TITLE}"' in output.read_text(encoding="utf-8")


def test_xlsx_cells_are_text_never_formulas(hostile: Database, tmp_path: Path) -> None:
    per_domain, per_contact = tmp_path / "domains.xlsx", tmp_path / "contacts.xlsx"
    export(hostile, per_domain, "xlsx", per_domain=True)
    export(hostile, per_contact, "xlsx")

    texts = {}
    for path in (per_domain, per_contact):
        sheet = load_workbook(path).active
        assert sheet is not None
        cells = [cell for row in sheet.iter_rows() for cell in row]
        assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
        texts[path] = {cell.value for cell in cells}
        assert set(HOSTILE_NAMES.values()) <= texts[path]  # the text itself, not a prefixed copy
        assert PHONE in texts[path]
    assert TITLE in texts[per_domain]
    assert "Plain; =1+2 \ufffd" in texts[per_domain]  # XLSX cannot hold the control character


def test_json_lines_keep_the_exact_values(hostile: Database, tmp_path: Path) -> None:
    output = tmp_path / "leads.jsonl"
    export(hostile, output, "jsonl", per_domain=True)

    rows = {row["domain"]: row for row in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    for domain, business in HOSTILE_NAMES.items():
        assert rows[domain]["business"] == business
        assert rows[domain]["title"] == TITLE
        assert rows[domain]["phone"] == PHONE
