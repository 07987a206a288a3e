"""An installed TaskHub speaks Chinese with no extra step: the wheel carries the compiled
catalogue, and a checkout without one compiles it at start-up."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


#: What `make install` needs besides the package's own files (tests/test_offline_install.py).
MAKE_FILES = ("Makefile", "constraints.txt", "babel.cfg")


def clean_checkout(target: Path) -> Path:
    """The files a fresh clone has for building: no compiled catalogue (*.mo is git-ignored)."""
    target.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", *MAKE_FILES):
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, target / name)
    ignore = shutil.ignore_patterns("*.mo", "__pycache__", "*.egg-info", "bundled")
    for folder in ("taskhub", "templates", "static", "migrations", "seeds"):
        shutil.copytree(PROJECT_ROOT / folder, target / folder, ignore=ignore)
    return target


# Building a wheel takes 20-40 s and never touches the database: built once, on SQLite.
ONCE = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip install .`` builds from a clean checkout."""
    base = tmp_path_factory.mktemp("wheel")
    source = clean_checkout(base / "src")
    out = base / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [found] = out.glob("taskhub-*.whl")
    return found


@ONCE
def test_a_wheel_built_from_a_clean_checkout_carries_the_compiled_chinese_catalogue(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        assert MO_IN_WHEEL in archive.namelist()
        catalogue = Translations(io.BytesIO(archive.read(MO_IN_WHEEL)))
    assert catalogue.gettext("Sign in") == "登录"
    expected = chinese_of_po()
    assert {key: translated(catalogue, *key) for key in expected} == expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@ONCE
def test_the_installed_package_served_by_gunicorn_answers_in_chinese(
    wheel: Path, tmp_path: Path
) -> None:
    """pip install of the wheel, its database migrated by its own command, gunicorn started
    outside any checkout: the sign-in page is Chinese and its style sheet is served (the
    templates, static files and migrations travel in the package)."""
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), wheel],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"  # the working directory: no checkout on sys.path
    elsewhere.mkdir()
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKHUB_", "FLASK_"))}
    env.update(
        PYTHONPATH=str(site),
        TASKHUB_INSTANCE_PATH=str(instance),
        TASKHUB_DATABASE_URL=f"sqlite:///{instance / 'taskhub.db'}",
        TASKHUB_SEEDS="none",
    )
    migrated = subprocess.run(
        [sys.executable, str(site / "bin" / "taskhub"), "db", "upgrade"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "-b", f"127.0.0.1:{port}", "-w", "1", "taskhub:create_app()"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        page = _get_when_up(f"http://127.0.0.1:{port}/login", server)
        assert "<title>登录" in page
        assert "任务督办平台" in page
        css = f"http://127.0.0.1:{port}/static/css/taskhub.css"
        with urllib.request.urlopen(css, timeout=60) as answer:
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        assert server.stderr is not None
        server.stderr.close()


def _get_when_up(url: str, server: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                assert answer.status == 200
                return str(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as error:  # up, but answering an error
            pytest.fail(f"{url}: {error.code} {error.read()[:2000]!r}")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            stderr = server.stderr.read().decode() if server.poll() is not None else ""
            assert server.poll() is None, f"gunicorn stopped: {stderr[-3000:]}"
            assert time.monotonic() < deadline, "gunicorn did not answer in 180 s"
            time.sleep(0.5)


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
