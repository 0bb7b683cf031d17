"""A report as an XLSX workbook (openpyxl): a first sheet "Thông tin chung" with the
title and the header, then a sheet per section, each with a bold header row, wrapped
text and column widths. The bytes depend on the report only: the workbook's
timestamps and the ZIP entries' dates are fixed (:data:`EPOCH`)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.reports.model import Report, Table

EPOCH = dt.datetime(2026, 1, 1)  # noqa: DTZ001 - the workbook's fixed, naive timestamps
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
WRAP = Alignment(wrap_text=True, vertical="top")
MAX_WIDTH = 80


def header_sheet(sheet: Worksheet, report: Report) -> None:
    sheet.title = "Thông tin chung"
    sheet.append([report.title])
    sheet["A1"].font = TITLE
    sheet.append([report.subtitle])
    sheet["A2"].font = BOLD
    sheet.append([])
    for label, value in report.header:
        sheet.append([label, value])
        sheet.cell(sheet.max_row, 1).font = BOLD
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 100
    for row in sheet.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = WRAP


def table_sheet(sheet: Worksheet, table: Table) -> None:
    sheet.title = table.sheet
    sheet.append([table.title])
    sheet["A1"].font = TITLE
    sheet.append(list(table.columns))
    for cell in sheet[2]:
        cell.font = BOLD
        cell.fill = HEAD_FILL
        cell.alignment = WRAP
    for row in table.rows:
        sheet.append(list(row))
    if not table.rows:
        sheet.append([table.empty])
    for index, width in enumerate(table.widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width, MAX_WIDTH)
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = WRAP
    sheet.freeze_panes = "A3"


def render_xlsx(report: Report) -> bytes:
    workbook = Workbook()
    header_sheet(workbook.active, report)
    for table in report.tables:
        table_sheet(workbook.create_sheet(), table)
    properties = workbook.properties
    properties.creator = "Lienthong"
    properties.title = f"{report.title} — {report.subtitle}"
    properties.created = properties.modified = EPOCH
    written = io.BytesIO()
    workbook.save(written)
    return fixed_dates(written.getvalue())


def fixed_dates(data: bytes) -> bytes:
    """The same ZIP with every entry dated :data:`EPOCH` (and the workbook's
    modification time, which openpyxl stamps with the clock when saving)."""
    out = io.BytesIO()
    stamp = EPOCH.timetuple()[:6]
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = fixed_core(content)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, content)
    return out.getvalue()


def fixed_core(content: bytes) -> bytes:
    """docProps/core.xml with its ``dcterms:modified`` set to :data:`EPOCH`."""
    text = content.decode("utf-8")
    start = text.find("<dcterms:modified")
    if start < 0:
        return content
    opened = text.index(">", start) + 1
    closed = text.index("</dcterms:modified>", opened)
    return (text[:opened] + EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ") + text[closed:]).encode()
