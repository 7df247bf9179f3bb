"""Only here to put the ndx-ldns spec inside the ``ndx_ldns`` package of a built wheel.

Everything else is in pyproject.toml. An editable install reads the spec from the source tree
(``extensions/ndx-ldns/spec``) instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SPEC = Path(__file__).parent / "extensions" / "ndx-ldns" / "spec"


class BuildWithSpec(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "ndx_ldns" / "spec"
        target.mkdir(parents=True, exist_ok=True)
        for path in SPEC.glob("*.yaml"):
            shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildWithSpec})
