"""Every UI string has a Chinese translation: the UI speaks Chinese first."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from taskhub.config import PROJECT_ROOT

CATALOG = PROJECT_ROOT / "taskhub" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def test_every_ui_string_is_translated_to_chinese():
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="zh")
    # (context, msgid): one English word may have two Chinese words, told apart by pgettext.
    translated = {
        (m.context, m.id) for m in catalog if m.id and m.string and "fuzzy" not in m.flags
    }
    method_map = [("taskhub/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(PROJECT_ROOT),
        method_map=method_map,
        keywords={
            "_": None,
            "gettext": None,
            "_l": None,
            "lazy_gettext": None,
            "pgettext": ((1, "c"), 2),
            "lazy_pgettext": ((1, "c"), 2),
        },
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    assert len(found) > 100  # the extraction itself worked
    assert ("ranking", "Change") in found  # and it reads message contexts
    missing = sorted(found - translated)
    assert not missing, f"untranslated: {missing}; run pybabel extract/update and translate"
