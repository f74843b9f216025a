"""The command line answers help and argument errors without TensorFlow, prints no TensorFlow
start-up chatter on a normal run, and shows it with --verbose; one version everywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHATTER = re.compile(r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|I0000 ")


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def test_help_and_argument_errors_do_not_import_tensorflow():
    code = (
        "import sys\nfrom core.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['predict', '--help'], ['evaluate', '--help'], ['nosuch']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NO-TF')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "NO-TF", out.stderr[-2000:]


def test_version_comes_from_one_place():
    from core import __version__

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "core.__version__"}
    assert isinstance(meta["project"]["license"], str)  # SPDX expression, not the deprecated table
    out = _cli("--version")
    assert out.stdout.strip() == f"pneumoscope {__version__}"
    assert f"## {__version__}" in (REPO / "CHANGELOG.md").read_text()


@pytest.mark.usefixtures("chest_xray_dir")
def test_predict_prints_no_tensorflow_chatter_unless_verbose(chest_xray_dir, tmp_path):
    image = sorted((chest_xray_dir / "test" / "NORMAL").iterdir())[0]
    quiet = _cli("predict", "default", str(image))
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stdout.startswith("file,score,label,threshold")
    assert not CHATTER.search(quiet.stderr), quiet.stderr[-2000:]
    assert not CHATTER.search(quiet.stdout)
    loud = _cli("--verbose", "predict", "default", str(image))
    assert loud.returncode == 0
    # Scoring runs on LiteRT now: the runtime's own start-up line shows only when asked.
    assert "XNNPACK" not in quiet.stderr
    assert CHATTER.search(loud.stderr) or "XNNPACK" in loud.stderr
