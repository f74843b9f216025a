import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.learning.bundle import load_bundle
from core.learning.distribute import DistributeError, get_strategy, is_chief
from core.learning.train import TrainConfig, train
from tests.core.test_data import write_xray_folder

REPO = Path(__file__).resolve().parents[2]

WORKER = """
import json, sys
from core.learning.distribute import is_chief
from core.learning.train import TrainConfig, train
out = train(TrainConfig(sys.argv[1], sys.argv[2], epochs=1, batch_size=16, seed=0, strategy="multiworker",
                        hparams={"image_size": 24, "width": 0.5}, augment=False, work_dir=sys.argv[3]))
print(json.dumps({"chief": is_chief(), "out": str(out)}))
"""


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_is_chief_reads_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert is_chief()


def test_bad_strategy_names_are_plain_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributeError, match="TF_CONFIG"):
        get_strategy("multiworker")
    with pytest.raises(DistributeError, match="unknown strategy"):
        get_strategy("ring")
    assert get_strategy(None) is None


def test_mirrored_strategy_trains(tmp_path):
    data = write_xray_folder(tmp_path / "d", n_per_class=12, size=32)
    out = train(TrainConfig(str(data), str(tmp_path / "m"), epochs=1, batch_size=8, strategy="mirrored",
                            hparams={"image_size": 24, "width": 0.5}, augment=False))
    assert load_bundle(out).card["training"]["strategy"] == "mirrored"


@pytest.mark.slow  # two TensorFlow processes: ~30-60 s on 2 cores
def test_two_local_workers_train_and_only_chief_writes(tmp_path):
    data = write_xray_folder(tmp_path / "d", n_per_class=16, size=32)
    out = tmp_path / "bundle"
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        work = tmp_path / f"work{index}"
        work.mkdir()
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(data), str(out), str(work)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO))
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [r["chief"] for r in results] == [True, False]
    bundle = load_bundle(out)
    assert bundle.card["training"]["strategy"] == "multiworker"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "d", "work0", "work1"]
