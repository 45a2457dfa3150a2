"""The build, as pyproject.toml declares it, with one step of its own: the translation
catalogs are compiled (Babel) from their .po files into the .mo files the server reads,
so that a package never ships a catalog behind its translations (docs/translating.md).
"""

from setuptools import setup
from setuptools.command.build_py import build_py


class CompileCatalogs(build_py):
    def run(self) -> None:
        from dashboard.tools import catalogs  # Babel only: a build requirement

        catalogs.compile_all()
        super().run()


setup(cmdclass={"build_py": CompileCatalogs})
