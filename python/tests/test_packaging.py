"""`pip install ./python` with Debian's python and setuptools only (no index, no build isolation)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from authd_server import ROOT


def test_pip_installs_the_package_with_its_type_marker() -> None:
    source = Path(tempfile.mkdtemp(prefix="authd-verifier-src-"))
    target = Path(tempfile.mkdtemp(prefix="authd-verifier-site-"))
    try:
        # A copy, so the build's egg-info and build/ never land in the worktree.
        shutil.copytree(ROOT / "python", source / "python", ignore=shutil.ignore_patterns("tests", "__pycache__"))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
                        "--no-deps", "--target", str(target), str(source / "python")],
                       check=True, capture_output=True, timeout=300)
        assert (target / "authd_verifier" / "py.typed").exists()
        check = ("import authd_verifier, authd_verifier.fastapi, sys; "
                 f"assert authd_verifier.__file__.startswith({str(target)!r}), authd_verifier.__file__; "
                 "print(authd_verifier.__version__)")
        done = subprocess.run([sys.executable, "-c", check], env={"PYTHONPATH": str(target)}, capture_output=True,
                              text=True, timeout=60, cwd=str(target))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0.1.0"
    finally:
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
