"""`pip install ./python` on Debian's python with Debian's packages only: a venv that sees the
system's site-packages, no index, no build isolation (setuptools and wheel from Debian)."""

from __future__ import annotations

import pip_install


def test_pip_installs_the_package_against_debians_packages() -> None:
    outcome = pip_install.started.result(timeout=900) if pip_install.started else pip_install.install_and_import()
    assert outcome["installed"], outcome["output"]
    assert outcome["import"] == (0, "0.1.0 True True"), outcome["output"]
