"""`pip install ./python` on Debian's python with Debian's packages only: a venv that sees the
system's site-packages, no index, no build isolation (setuptools and wheel from Debian)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from authd_server import ROOT


def test_pip_installs_the_package_against_debians_packages() -> None:
    work = Path(tempfile.mkdtemp(prefix="authd-verifier-pip-"))
    try:
        # A copy, so the build's egg-info and build/ never land in the worktree.
        shutil.copytree(ROOT / "python", work / "python", ignore=shutil.ignore_patterns("tests", "__pycache__"))
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(work / "venv")], check=True,
                       timeout=120)
        python = str(work / "venv" / "bin" / "python")
        # No --no-deps: PyJWT[crypto] must be satisfied by python3-jwt and python3-cryptography.
        # The venv sees Debian's pip (python3-pip) among the system packages: no ensurepip needed.
        installed = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                                    str(work / "python")], capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        check = ("import authd_verifier, authd_verifier.fastapi, pathlib; "
                 "where = pathlib.Path(authd_verifier.__file__).parent; "
                 "assert 'site-packages' in str(where), where; assert (where / 'py.typed').exists(); "
                 "print(authd_verifier.__version__)")
        done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=60, cwd=str(work))
        assert (done.returncode, done.stdout.strip()) == (0, "0.1.0"), done.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)
