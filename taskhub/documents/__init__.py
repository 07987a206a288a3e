"""Reading plans from their documents (.docx, .pdf, .txt/.md, .html, pasted text) into drafts."""
