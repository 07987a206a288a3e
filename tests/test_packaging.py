"""An installed TaskHub speaks Chinese with no extra step: the wheel carries the compiled
catalogue, and a checkout without one compiles it at start-up."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations

from taskhub.config import PROJECT_ROOT
from taskhub.core.i18n import translation_directory

PO = Path("translations/zh/LC_MESSAGES/messages.po")
MO_IN_WHEEL = "taskhub/translations/zh/LC_MESSAGES/messages.mo"


def chinese_of_po() -> dict[tuple[str | None, str], str]:
    """What the .po translates (plain, non-fuzzy entries), by (context, msgid)."""
    with (PROJECT_ROOT / "taskhub" / PO).open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    return {
        (m.context, m.id): m.string
        for m in catalog
        if m.id
        and isinstance(m.id, str)
        and isinstance(m.string, str)
        and m.string
        and "fuzzy" not in m.flags
    }


def translated(catalogue: Translations, context: str | None, msgid: str) -> str:
    return catalogue.pgettext(context, msgid) if context else catalogue.gettext(msgid)


def clean_checkout(target: Path) -> Path:
    """The files a fresh clone has for building: no compiled catalogue (*.mo is git-ignored)."""
    target.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, target / name)
    shutil.copytree(
        PROJECT_ROOT / "taskhub",
        target / "taskhub",
        ignore=shutil.ignore_patterns("*.mo", "__pycache__", "*.egg-info"),
    )
    return target


# Building a wheel takes 20-40 s and never touches the database: run it once, on SQLite.
@pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)
def test_a_wheel_built_from_a_clean_checkout_carries_the_compiled_chinese_catalogue(
    tmp_path: Path,
) -> None:
    source = clean_checkout(tmp_path / "src")
    out = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = out.glob("taskhub-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert MO_IN_WHEEL in archive.namelist()
        catalogue = Translations(io.BytesIO(archive.read(MO_IN_WHEEL)))
    assert catalogue.gettext("Sign in") == "登录"
    expected = chinese_of_po()
    assert {key: translated(catalogue, *key) for key in expected} == expected


@pytest.fixture
def checkout_translations(tmp_path: Path) -> Path:
    """A translations folder with the .po only, as a fresh clone has it."""
    folder = tmp_path / "translations"
    (folder / PO.parent.relative_to("translations")).mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "taskhub" / PO, folder / PO.relative_to("translations"))
    return folder


def test_a_checkout_without_a_compiled_catalogue_compiles_one_into_the_instance(
    tmp_path: Path, checkout_translations: Path
) -> None:
    instance = tmp_path / "instance"
    found = translation_directory(str(instance), source=checkout_translations)
    assert Path(found) == instance / "translations"
    catalogue = Translations.load(found, ["zh"])
    assert catalogue.gettext("Sign in") == "登录"
    assert not list(checkout_translations.rglob("*.mo"))  # the checkout is left as it is


def test_a_current_catalogue_is_used_and_a_stale_one_is_compiled_again(
    tmp_path: Path, checkout_translations: Path
) -> None:
    po = checkout_translations / PO.relative_to("translations")
    mo = po.with_suffix(".mo")
    mo.write_bytes(b"")  # stands for one compiled now
    assert translation_directory(str(tmp_path), source=checkout_translations) == str(
        checkout_translations
    )
    stamp = po.stat().st_mtime
    os.utime(mo, (stamp - 3600, stamp - 3600))  # a `git pull` brought a newer .po
    found = translation_directory(str(tmp_path / "instance"), source=checkout_translations)
    assert Translations.load(found, ["zh"]).gettext("Sign in") == "登录"
