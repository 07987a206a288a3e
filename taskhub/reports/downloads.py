"""Bulletin files as the pages and the API serve them: the .xlsx and the .docx downloads."""

from __future__ import annotations

from werkzeug.wrappers import Response

from taskhub.core.xlsx import XLSX_MIMETYPE, safe_file_name, xlsx_response
from taskhub.reports import services

XLSX = XLSX_MIMETYPE
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def file_names(b: services.Bulletin, extension: str) -> tuple[str, str]:
    """The Chinese file name, and an ASCII one for clients without RFC 5987."""
    return (
        f"{safe_file_name(b.plan_title)}_{b.period_code}_通报.{extension}",
        f"{b.plan_code}_{b.period_code}_bulletin.{extension}",
    )


def xlsx_file(b: services.Bulletin) -> Response:
    """The bulletin's ranking and overdue items as an Excel download."""
    return xlsx_response(services.bulletin_xlsx(b), *file_names(b, "xlsx"))


def overdue_file(b: services.Bulletin) -> Response:
    """The bulletin's attachment: the full list of overdue items as an Excel download."""
    return xlsx_response(
        services.overdue_xlsx(b),
        f"{safe_file_name(b.plan_title)}_{b.period_code}_逾期事项清单.xlsx",
        f"{b.plan_code}_{b.period_code}_overdue.xlsx",
    )


def docx_file(b: services.Bulletin) -> Response | None:
    """The bulletin as a Word download; none where python-docx is not installed."""
    data = services.bulletin_docx(b)
    if data is None:
        return None
    # The same attachment headers as the workbook's (core.xlsx); only the type differs.
    response = xlsx_response(data, *file_names(b, "docx"))
    response.mimetype = DOCX
    return response
