"""Periodic reports of a plan in Vietnamese (báo cáo định kỳ): the document
(:mod:`services.reports.model`, built from the views as known at a log position and
as of a day), what it reads from the store besides them (:mod:`services.reports.gather`),
and its renderings: XLSX (:mod:`services.reports.xlsx`) and PDF with an embedded
Vietnamese font (:mod:`services.reports.pdf`)."""

from __future__ import annotations

from services.reports.model import Report
from services.reports.pdf import render_pdf
from services.reports.periods import FORMATS, check_format
from services.reports.xlsx import render_xlsx


def render(report: Report, fmt: str) -> bytes:
    """``report`` as the bytes of a file of format ``fmt`` (``xlsx`` or ``pdf``)."""
    return render_xlsx(report) if check_format(fmt) == "xlsx" else render_pdf(report)


__all__ = ["FORMATS", "Report", "render"]
