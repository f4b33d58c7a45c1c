"""Reading CSV and XLSX files into rows of text, with clear messages for everything that can go wrong.

Encoding is decided deterministically, never guessed from statistics: a byte-order mark wins
(UTF-8 or UTF-16); otherwise valid UTF-8 is UTF-8; otherwise GB18030 (a superset of GBK and
GB2312, what Chinese Windows Excel writes); otherwise the file is refused. A GBK file that happens
to be valid UTF-8 is practically impossible for Chinese text, so the order is safe.

Every value comes out as text: XLSX numbers that are whole become digits ("13800138000"), dates
become ISO dates, formula cells give their saved result (a formula without one rejects its row),
merged cells repeat the top-left value over the merged area.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

MAX_FIELD = 64 * 1024  # one cell; anything longer is junk, not customer data
HEADER_SEARCH_ROWS = 20
csv.field_size_limit(MAX_FIELD)


class FileProblem(Exception):
    """The file cannot be imported; str() is the message for the user."""


@dataclass
class Sheet:
    """What we learnt about a file before reading its rows."""

    file_format: str
    encoding: str = ""
    delimiter: str = ","
    headers: list[str] = field(default_factory=list)
    header_row: int = 1
    warnings: list[str] = field(default_factory=list)


@dataclass
class RawRow:
    number: int  # the row as a spreadsheet shows it (header = 1)
    values: list[str]
    problems: list[str] = field(default_factory=list)


# --- Detection -------------------------------------------------------------------------------------


def detect_format(content: bytes, filename: str = "") -> str:
    if content.startswith(b"PK\x03\x04"):
        return "xlsx"
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileProblem(_("This is an old Excel 97–2003 (.xls) file. Save it as .xlsx or CSV and upload it again."))
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise FileProblem(_("The file is named .xlsx but is not an Excel workbook."))
    return "csv"


def detect_encoding(content: bytes) -> str:
    """'utf-8-sig', 'utf-16', 'utf-8' or 'gb18030'; FileProblem when none fits."""
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in content[:65536]:
        raise FileProblem(_("This is not a text file (it contains binary data). Upload a CSV or XLSX file."))
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        content.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise FileProblem(
            _(
                "The file is neither UTF-8 nor GBK/GB18030 text (unreadable bytes at position %(pos)s). "
                "Save it from Excel as “CSV UTF-8” or as XLSX."
            )
            % {"pos": exc.start}
        ) from exc


def _decode(content: bytes, encoding: str) -> str:
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError as exc:  # utf-16 with a broken tail
        raise FileProblem(_("The file is not valid %(encoding)s text.") % {"encoding": encoding}) from exc
    if "\x00" in text:
        raise FileProblem(_("This is not a text file (it contains binary data). Upload a CSV or XLSX file."))
    return text


def _sniff_delimiter(text: str) -> str:
    sample_lines = [line for line in text[:20000].splitlines() if line.strip()][:10]
    if not sample_lines:
        return ","
    best, best_score = ",", -1
    for delimiter in (",", "\t", ";", "|"):
        counts = [line.count(delimiter) for line in sample_lines]
        score = min(counts) if counts else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _blank(values) -> bool:
    return all(v is None or str(v).strip() == "" for v in values)


# --- Cell values -----------------------------------------------------------------------------------


def cell_text(value) -> str:
    """An XLSX cell value as text, the way a person reads it in Excel."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


# --- CSV -------------------------------------------------------------------------------------------


def _csv_records(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise FileProblem(
            _("Row %(row)s cannot be read as CSV (%(error)s). Is this really a CSV file?")
            % {"row": reader.line_num, "error": exc}
        ) from exc


def _sniff_csv(content: bytes) -> Sheet:
    encoding = detect_encoding(content)
    text = _decode(content, encoding)
    delimiter = _sniff_delimiter(text)
    sheet = Sheet("csv", encoding=encoding, delimiter=delimiter)
    for index, record in enumerate(_csv_records(text, delimiter), start=1):
        if index > HEADER_SEARCH_ROWS:
            break
        if not _blank(record):
            sheet.headers = [h.strip() for h in record]
            sheet.header_row = index
            return sheet
    raise FileProblem(_("The file is empty: no header row was found."))


def _csv_rows(content: bytes, sheet: Sheet) -> Iterator[RawRow]:
    text = _decode(content, sheet.encoding)
    for index, record in enumerate(_csv_records(text, sheet.delimiter), start=1):
        if index <= sheet.header_row or _blank(record):
            continue
        yield RawRow(index, record)


# --- XLSX ------------------------------------------------------------------------------------------

_CELL_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")
_FORMULA_CELL = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,3}\d+)\"[^>]*>\s*<(?:\w+:)?f\b")
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Z]{1,3}\d+):([A-Z]{1,3}\d+)\"")


def _col_index(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + (ord(char) - 64)
    return number - 1


def _ref(ref: str) -> tuple[int, int]:
    match = _CELL_REF.match(ref.decode() if isinstance(ref, bytes) else ref)
    if not match:
        return (0, 0)
    return int(match[2]), _col_index(match[1])


def _open_workbook(content: bytes):
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001  (zipfile, KeyError, XML errors: all mean "not readable")
        raise FileProblem(
            _("The Excel file cannot be read (%(error)s). Open it in Excel and save it again as .xlsx.")
            % {"error": type(exc).__name__}
        ) from exc
    if not workbook.worksheets:
        raise FileProblem(_("The Excel file has no worksheet."))
    return workbook, workbook.worksheets[0]


def _sheet_xml(content: bytes, worksheet) -> bytes:
    path = getattr(worksheet, "_worksheet_path", "") or "xl/worksheets/sheet1.xml"
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return archive.read(path.lstrip("/"))
    except (KeyError, zipfile.BadZipFile):
        return b""


def _xlsx_structure(content: bytes, worksheet) -> tuple[set[tuple[int, int]], dict[tuple[int, int], tuple[int, int]]]:
    """Formula cells {(row, col)} and merged cells {(row, col): (top row, left col)} from the sheet XML."""
    xml = _sheet_xml(content, worksheet)
    formulas = {_ref(m) for m in _FORMULA_CELL.findall(xml)}
    merged: dict[tuple[int, int], tuple[int, int]] = {}
    for first, last in _MERGE.findall(xml):
        (top, left), (bottom, right) = _ref(first), _ref(last)
        if (bottom - top + 1) * (right - left + 1) > 100_000:
            continue
        for row in range(top, bottom + 1):
            for col in range(left, right + 1):
                if (row, col) != (top, left):
                    merged[(row, col)] = (top, left)
    return formulas, merged


def _xlsx_iter(worksheet) -> Iterator[tuple[int, tuple]]:
    start = worksheet.min_row or 1
    try:
        yield from enumerate(worksheet.iter_rows(values_only=True), start=start)
    except Exception as exc:  # noqa: BLE001  (broken XML inside the archive)
        raise FileProblem(
            _("The Excel file is damaged (%(error)s). Open it in Excel and save it again.")
            % {"error": type(exc).__name__}
        ) from exc


def _sniff_xlsx(content: bytes) -> Sheet:
    workbook, worksheet = _open_workbook(content)
    sheet = Sheet("xlsx", encoding="", delimiter="")
    try:
        for number, values in _xlsx_iter(worksheet):
            if number > HEADER_SEARCH_ROWS:
                break
            if not _blank(values):
                sheet.headers = [cell_text(v).strip() for v in values]
                while sheet.headers and not sheet.headers[-1]:
                    sheet.headers.pop()
                sheet.header_row = number
                break
        else:
            raise FileProblem(_("The worksheet is empty: no header row was found."))
        if not sheet.headers:
            raise FileProblem(_("The worksheet is empty: no header row was found."))
    finally:
        workbook.close()
    formulas, merged = _xlsx_structure(content, worksheet)
    if merged:
        sheet.warnings.append(
            _("%(count)s merged cells: each takes the value of the merged area's first cell.") % {"count": len(merged)}
        )
    if formulas:
        sheet.warnings.append(
            _("%(count)s formula cells: their last calculated values are imported.") % {"count": len(formulas)}
        )
    if len(workbook.worksheets) > 1:
        sheet.warnings.append(_("Only the first worksheet is imported."))
    return sheet


def _xlsx_rows(content: bytes, sheet: Sheet) -> Iterator[RawRow]:
    workbook, worksheet = _open_workbook(content)
    formulas, merged = _xlsx_structure(content, worksheet)
    merged_values: dict[tuple[int, int], object] = {}
    anchors = set(merged.values())
    merged_by_row: dict[int, list[tuple[int, tuple[int, int]]]] = {}
    for (row, col), anchor in merged.items():
        merged_by_row.setdefault(row, []).append((col, anchor))
    try:
        for number, values in _xlsx_iter(worksheet):
            values = list(values)
            for col, value in enumerate(values):
                if anchors and (number, col) in anchors:
                    merged_values[(number, col)] = value
            for col, anchor in merged_by_row.get(number, ()):
                while len(values) <= col:
                    values.append(None)
                if values[col] in (None, ""):
                    values[col] = merged_values.get(anchor)
            if number <= sheet.header_row or _blank(values):
                continue
            problems = []
            for col, value in enumerate(values):
                if (number, col) in formulas and value in (None, ""):
                    problems.append(
                        _("Cell %(cell)s holds a formula without a saved result; open the file in Excel and save it.")
                        % {"cell": f"{_col_letters(col)}{number}"}
                    )
            yield RawRow(number, [cell_text(v) for v in values], problems)
    finally:
        workbook.close()


def _col_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# --- Entry points ----------------------------------------------------------------------------------


def sniff(content: bytes, filename: str = "") -> Sheet:
    """Format, encoding, delimiter and header row of a file; FileProblem with a clear message if unreadable."""
    if not content:
        raise FileProblem(_("The file is empty."))
    file_format = detect_format(content, filename)
    return _sniff_xlsx(content) if file_format == "xlsx" else _sniff_csv(content)


def iter_rows(content: bytes, sheet: Sheet) -> Iterator[RawRow]:
    """The data rows after the header, blank rows left out, in file order (deterministic for resumes)."""
    if sheet.file_format == "xlsx":
        yield from _xlsx_rows(content, sheet)
    else:
        yield from _csv_rows(content, sheet)


def count_rows(content: bytes, sheet: Sheet) -> int:
    return sum(1 for _ in iter_rows(content, sheet))
