"""Build step: compile the translation catalogues (.po → .mo) into the built package.

Everything else is declared in pyproject.toml. The compiled catalogues are not kept in git;
a wheel (``pip install .``, ``python -m build``) carries them, so an installed TaskHub serves
Chinese with no extra step. A checkout without them compiles them at start-up instead
(``taskhub.core.i18n``).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogues(build_py):
    """build_py, then compile every messages.po copied into the build folder."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install runs from the checkout: compiled at start
            return
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path(self.build_lib, "taskhub", "translations").glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            with po.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
