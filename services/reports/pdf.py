"""A report as a PDF (ReportLab), A4 landscape, typeset in DejaVu Sans — embedded
(subset) from ``services/reports/fonts/`` (its licence beside it), which covers every
Vietnamese letter. The bytes depend on the report only (ReportLab's invariant mode:
no creation date, a fixed document id)."""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.reports.model import Cell, Report
from services.reports.model import Table as Section

FONTS = Path(__file__).parent / "fonts"
FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
PAGE = landscape(A4)
MARGIN = 12 * mm


def register_fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(FONTS / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)


def styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=7.5, leading=9.5)
    return {
        "title": ParagraphStyle(
            "title", fontName=FONT_BOLD, fontSize=14, leading=18, alignment=1, spaceAfter=4
        ),
        "subtitle": ParagraphStyle(
            "subtitle", fontName=FONT_BOLD, fontSize=11, leading=14, alignment=1, spaceAfter=8
        ),
        "heading": ParagraphStyle(
            "heading", fontName=FONT_BOLD, fontSize=10, leading=13, spaceBefore=8, spaceAfter=4
        ),
        "body": body,
        "head": ParagraphStyle("head", parent=body, fontName=FONT_BOLD),
        "info": ParagraphStyle("info", fontName=FONT, fontSize=9, leading=12),
    }


def text(value: Cell) -> str:
    return escape(str(value))


def grid(rows: list[list[Paragraph]], widths: list[float], *, head: bool = True) -> Table:
    """A table of paragraphs; with ``head``, its first row shaded and repeated on
    every page the table runs over."""
    table = Table(rows, colWidths=widths, repeatRows=1 if head else 0)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),  # else Helvetica, never embedded
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if head:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")))
    table.setStyle(TableStyle(style))
    return table


def section(table: Section, style: dict[str, ParagraphStyle]) -> list[Flowable]:
    found: list[Flowable] = [Paragraph(text(table.title), style["heading"])]
    if not table.rows:
        return [*found, Paragraph(text(table.empty), style["body"])]
    usable = PAGE[0] - 2 * MARGIN
    total = sum(table.widths)
    widths = [usable * w / total for w in table.widths]
    rows = [[Paragraph(text(c), style["head"]) for c in table.columns]]
    rows += [[Paragraph(text(c), style["body"]) for c in row] for row in table.rows]
    return [*found, grid(rows, widths)]


def page_number(canvas: Canvas, document: SimpleDocTemplate) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 7)
    canvas.drawRightString(PAGE[0] - MARGIN, 6 * mm, f"Trang {document.page}")
    canvas.restoreState()


def render_pdf(report: Report) -> bytes:
    register_fonts()
    style = styles()
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{report.title} — {report.subtitle}",
        author="Lienthong",
        invariant=True,
        initialFontName=FONT,  # else every page names Helvetica, a font it never embeds
        initialFontSize=8,
    )
    story: list[Flowable] = [
        Paragraph(text(report.title), style["title"]),
        Paragraph(text(report.subtitle), style["subtitle"]),
    ]
    info = [
        [Paragraph(text(label), style["head"]), Paragraph(text(value), style["body"])]
        for label, value in report.header
    ]
    usable = PAGE[0] - 2 * MARGIN
    if info:
        story += [grid(info, [usable * 0.22, usable * 0.78], head=False), Spacer(1, 4 * mm)]
    for table in report.tables:
        story += section(table, style)
    document.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return out.getvalue()
