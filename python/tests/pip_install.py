"""`pip install ./python` into a fresh venv over Debian's site-packages, started early by the
session (conftest) so it runs while authd boots; test_packaging.py checks the outcome."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Dict, Optional

from authd_server import ROOT

started: Optional["Future[Dict[str, object]]"] = None

_CHECK = ("import authd_verifier, authd_verifier.fastapi, pathlib; "
          "where = pathlib.Path(authd_verifier.__file__).parent; "
          "print(authd_verifier.__version__, 'site-packages' in str(where), (where / 'py.typed').exists())")


def install_and_import() -> Dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="authd-verifier-pip-"))
    try:
        # A copy, so the build's egg-info and build/ never land in the worktree.
        shutil.copytree(ROOT / "python", work / "python", ignore=shutil.ignore_patterns("tests", "__pycache__"))
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(work / "venv")],
                       check=True, timeout=300)
        python = str(work / "venv" / "bin" / "python")
        # The venv sees Debian's pip (python3-pip) among the system packages: no ensurepip needed.
        # No --no-deps: PyJWT[crypto] must be satisfied by python3-jwt and python3-cryptography.
        installed = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                                    str(work / "python")], capture_output=True, text=True, timeout=600)
        if installed.returncode != 0:
            return {"installed": False, "output": installed.stdout + installed.stderr}
        imported = subprocess.run([python, "-c", _CHECK], capture_output=True, text=True, timeout=120, cwd=str(work))
        return {"installed": True, "import": (imported.returncode, imported.stdout.strip()), "output": imported.stderr}
    finally:
        shutil.rmtree(work, ignore_errors=True)
