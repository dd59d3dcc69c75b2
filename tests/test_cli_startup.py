"""Start-up stays light: ``--help`` and ``--version`` import no heavy library (issue 12 #25).

Checked by inspecting ``sys.modules`` in a fresh interpreter, not by timing (the CPU figure is
measured by ``scripts/bench_startup.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: typer itself imports pydantic to coerce a sub-command's parameters, so it is not listed
HEAVY = ("sklearn", "matplotlib", "pandas", "dask", "distributed", "scipy", "SimpleITK",
         "nibabel", "numpy")

_PROBE = """
import json, sys
from imagination.cli import run_app
code = run_app(sys.argv[1:])
roots = sorted({name.split('.')[0] for name in sys.modules})
print(json.dumps({"code": code, "modules": roots}))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["bench", "--help"],
                                  ["report", "--help"], ["manifest", "--help"]])
def test_help_and_version_import_no_heavy_library(argv):
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    loaded = sorted(set(HEAVY) & set(result["modules"]))
    assert loaded == [], f"`imagination {' '.join(argv)}` imports {loaded}"
