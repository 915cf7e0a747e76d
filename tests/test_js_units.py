"""The page's pure JavaScript helpers, unit-tested with Node's own test runner (tests/js/*.test.mjs)."""
from __future__ import annotations

import shutil
import subprocess

from conftest import ROOT


def test_javascript_units_pass():
    node = shutil.which("node")
    assert node, "node is needed (it also builds static/vendor): install Node.js"
    tests = sorted(str(p) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert tests, "no JavaScript unit tests found"
    done = subprocess.run([node, "--test", *tests], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout
