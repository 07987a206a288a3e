"""Build step: compile the translation catalogues (.po → .mo) into the built package, and
bundle the templates, static files, migrations and seeds (folders of the checkout, beside the
package) into it, so ``pip install .`` then gunicorn serves the pages.

Everything else is declared in pyproject.toml; MANIFEST.in puts the folders into an sdist.
The compiled catalogues are not kept in git; a wheel (``pip install .``, ``python -m build``)
carries them, so an installed TaskHub serves Chinese with no extra step. A checkout without
them compiles them at start-up instead (``taskhub.core.i18n``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: The project's folders the package reads at run time (pages, styles and scripts, database
#: migrations, seed plans). A checkout has them beside the package; a built package carries
#: them inside it, in taskhub/bundled/ (taskhub.config.PROJECT_ROOT then points there).
BUNDLED = ("templates", "static", "migrations", "seeds")


class BuildPyWithCatalogues(build_py):
    """build_py, then bundle the project's folders and compile every messages.po copied into
    the build folder."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install runs from the checkout: compiled at start
            return
        bundle = Path(self.build_lib, "taskhub", "bundled")
        for name in BUNDLED:
            if Path(name).is_dir():
                shutil.rmtree(bundle / name, ignore_errors=True)
                shutil.copytree(
                    name, bundle / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]")
                )
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path(self.build_lib, "taskhub", "translations").glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            with po.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
