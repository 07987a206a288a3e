"""Where the compiled translation catalogues are, compiling them when a checkout lacks them.

A built package carries compiled catalogues (setup.py compiles them into the wheel). A
checkout has only the .po files unless `make translations` ran, and after a `git pull` its
.mo files may be older than the .po: then the .po files are compiled at start-up into the
instance folder, so the UI is Chinese whichever way TaskHub was installed or updated.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

#: The catalogues shipped in the package (``<locale>/LC_MESSAGES/messages.po``).
PACKAGE_TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
#: A .mo this many seconds older than its .po still counts as current: installing a wheel
#: writes both within a moment, in either order.
MTIME_SLACK = 2.0


def is_current(mo: Path, po: Path) -> bool:
    """True when ``mo`` exists and was compiled from this ``po`` or a later one."""
    try:
        return mo.stat().st_mtime >= po.stat().st_mtime - MTIME_SLACK
    except FileNotFoundError:
        return False


def compile_catalogue(po: Path, mo: Path) -> None:
    """Compile ``po`` into ``mo`` (written whole, then renamed: workers may race)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as target:
            write_mo(target, catalog)
        os.replace(draft, mo)
    finally:
        Path(draft).unlink(missing_ok=True)


def translation_directory(instance_path: str, source: Path = PACKAGE_TRANSLATIONS) -> str:
    """The folder to give Flask-Babel: the package's own when every catalogue there is
    compiled and current, else ``instance/translations`` with them compiled there."""
    sources = sorted(source.glob("*/LC_MESSAGES/*.po"))
    if all(is_current(po.with_suffix(".mo"), po) for po in sources):
        return str(source)
    cache = Path(instance_path) / "translations"
    for po in sources:
        mo = cache / po.relative_to(source).with_suffix(".mo")
        if not is_current(mo, po):
            compile_catalogue(po, mo)
            logger.info(
                "compiled %s into %s (`make translations` compiles it in the checkout)", po, mo
            )
    return str(cache)
