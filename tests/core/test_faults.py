"""Faults a desktop app meets: the process killed (kill -9, power loss) while saving or training,
and a destination that cannot be written (read-only folder, disk full). Whatever happens, the
model that was there before must still load, and no half-written folder may pass for a bundle.
"""

from __future__ import annotations

import errno
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import core.trust.integrity  # noqa: E402
from core.learning import bundle as bundle_mod  # noqa: E402
from core.learning.bundle import BundleError, load_bundle, save_bundle, update_card  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("PNEUMOSCOPE_FAULT_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)


def tiny_model(seed: int = 0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))


SCORES = {
    "val_y_true": np.array([0, 1, 0, 1], np.int8),
    "val_y_score": np.array([0.1, 0.9, 0.2, 0.8], np.float32),
    "val_files": np.array(["a.png", "b.png", "c.png", "d.png"]),
}


def old_bundle(dest: Path) -> Path:
    return save_bundle(dest, tiny_model(), {"model": {"name": "tiny"}, "generation": 0, "marker": "old"}, SCORES)


class Child:
    """A subprocess whose stdout lines arrive on a queue, so the test can wait with a deadline."""

    def __init__(self, code: str, *args: str) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
                if time.monotonic() < deadline:
                    continue
            if line is None:
                self.kill()
                raise AssertionError(f"child ended or timed out before the awaited line; saw {self.seen[-5:]}")
            self.seen.append(line)
            if predicate(line):
                return line

    def drain(self) -> None:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.seen.append(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        time.sleep(0.05)  # let the pump thread deliver the last lines
        self.drain()


def assert_only_bundle_visible(dest: Path) -> list[str]:
    """Nothing but ``dest`` looks like a bundle in its folder; returns the hidden leftovers."""
    visible = [p.name for p in dest.parent.iterdir() if not p.name.startswith(".")]
    assert visible == [dest.name], visible
    return sorted(p.name for p in dest.parent.iterdir() if p.name.startswith("."))


# --- kill -9 while saving ---------------------------------------------------------------------------

SAVER = """
import sys
import numpy as np
from tests.core.test_faults import tiny_model, SCORES
from core.learning.bundle import save_bundle
model = tiny_model(1)
i = 0
while True:
    i += 1
    print(f"saving {i}", flush=True)
    save_bundle(sys.argv[1], model, {"model": {"name": "tiny"}, "generation": i}, SCORES)
    print(f"saved {i}", flush=True)
"""


def _kill_during_saves(tmp_path: Path, rounds: int) -> None:
    rng = random.Random(SEED)
    dest = tmp_path / "models" / "current"
    old_bundle(dest)
    for r in range(rounds):
        child = Child(SAVER, str(dest))
        child.wait_for(lambda s: s == "saving 2", timeout=120)
        t0 = time.monotonic()
        child.wait_for(lambda s: s == "saved 2", timeout=60)
        one_save = time.monotonic() - t0
        time.sleep(rng.uniform(0.0, 2.5 * one_save))  # lands anywhere in the next save or two
        child.kill()
        last = child.seen[-1]
        started = int(last.split()[1])
        possible = {started, started - 1} if last.startswith("saving") else {started}
        b = load_bundle(dest)
        assert b.card["generation"] in possible, (SEED, r, last, b.card["generation"])
        assert b.model.count_params() > 0
        leftovers = assert_only_bundle_visible(dest)
        print(f"round {r}: killed after {last!r} ({one_save * 1000:.0f} ms per save); hidden leftovers {leftovers}")
    # And the next ordinary save works over whatever the kills left behind.
    save_bundle(dest, tiny_model(), {"model": {"name": "tiny"}, "generation": "after"}, SCORES)
    assert load_bundle(dest).card["generation"] == "after"


def test_kill_during_save_keeps_a_loadable_bundle(tmp_path):
    _kill_during_saves(tmp_path, rounds=1)


@pytest.mark.slow
def test_kill_during_save_many_times(tmp_path):
    _kill_during_saves(tmp_path, rounds=8)


# --- kill -9 while training ------------------------------------------------------------------------

TRAINER = """
import sys
from core.learning.train import TrainConfig, train
cfg = TrainConfig(sys.argv[1], sys.argv[2], epochs=int(sys.argv[3]), batch_size=16,
                  hparams={"image_size": 32, "width": 0.5}, seed=1, patience=100, work_dir=sys.argv[4])
train(cfg, progress=lambda e: print(e.stage, flush=True))
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def tiny_xray_folder(tmp_path_factory) -> Path:
    from tests.core.test_data import write_xray_folder

    return write_xray_folder(tmp_path_factory.mktemp("xr"), n_per_class=30, size=40, splits=("train",))


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["training", "saving"])
def test_kill_during_training_keeps_the_previous_bundle(tiny_xray_folder, tmp_path, moment):
    pytest.importorskip("core.learning.train")
    rng = random.Random(SEED)
    dest = tmp_path / "models" / "current"
    old_bundle(dest)
    work = tmp_path / "work"
    work.mkdir()
    epochs = "50" if moment == "training" else "1"
    child = Child(TRAINER, str(tiny_xray_folder), str(dest), epochs, str(work))
    child.wait_for(lambda s: s == moment, timeout=240)
    time.sleep(rng.uniform(0.0, 1.0 if moment == "training" else 0.3))
    child.kill()
    b = load_bundle(dest)
    if "done" in child.seen:  # the save finished before the kill: the new bundle, complete
        assert "marker" not in b.card and b.card["training"]["epochs_run"] >= 1
    else:
        assert b.card.get("marker") == "old" or "training" in b.card  # old, or new if the swap completed
    assert b.model.count_params() > 0
    leftovers = assert_only_bundle_visible(dest)
    print(f"killed at {moment!r} after {child.seen[-3:]}; hidden leftovers {leftovers}; "
          f"work dir left {[p.name for p in work.iterdir()]}")


# --- destination not writable ----------------------------------------------------------------------


def _really_read_only(folder: Path) -> bool:
    """chmod 0o500 stops writes for normal users; root ignores it, so probe."""
    folder.chmod(0o500)
    try:
        (folder / ".probe").mkdir()
    except PermissionError:
        return True
    (folder / ".probe").rmdir()
    return False


def test_read_only_destination_gives_a_clear_error_and_loses_nothing(tmp_path, monkeypatch):
    dest = tmp_path / "models" / "current"
    old_bundle(dest)
    before = sorted(p.name for p in dest.iterdir())
    parent = dest.parent
    real = _really_read_only(parent)
    if not real:  # running as root: make creating the temp folder fail the way a read-only disk does
        orig_mkdir = Path.mkdir

        def no_mkdir(self, *a, **kw):
            if self.parent == parent and self.name.startswith(f".{dest.name}.new"):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return orig_mkdir(self, *a, **kw)

        monkeypatch.setattr(Path, "mkdir", no_mkdir)
    try:
        with pytest.raises(BundleError, match=r"could not save the model.*(Permission denied|read-only)"):
            save_bundle(dest, tiny_model(1), {"model": {"name": "tiny"}, "generation": 1}, SCORES)
    finally:
        parent.chmod(0o700)
    assert load_bundle(dest).card["marker"] == "old"
    assert sorted(p.name for p in dest.iterdir()) == before
    assert assert_only_bundle_visible(dest) == []


def test_disk_full_while_writing_gives_a_clear_error_and_loses_nothing(tmp_path, monkeypatch):
    dest = tmp_path / "models" / "current"
    old_bundle(dest)
    orig_write_text = Path.write_text

    def full_disk(self, *a, **kw):
        if self.name == bundle_mod.CARD_FILE:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return orig_write_text(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(BundleError, match="No space left on device"):
        save_bundle(dest, tiny_model(1), {"model": {"name": "tiny"}, "generation": 1}, SCORES)
    monkeypatch.undo()
    assert load_bundle(dest).card["marker"] == "old"
    assert assert_only_bundle_visible(dest) == []  # the temp folder was removed too


def test_swap_failing_keeps_the_old_bundle(tmp_path, monkeypatch):
    dest = tmp_path / "models" / "current"
    old_bundle(dest)
    monkeypatch.setattr(core.trust.integrity, "_exchange", lambda a, b: False)  # force the two-rename fallback

    def no_rename(src, dst, *a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(src))

    monkeypatch.setattr(bundle_mod.os, "rename", no_rename)
    with pytest.raises(BundleError, match="Read-only file system"):
        save_bundle(dest, tiny_model(1), {"model": {"name": "tiny"}, "generation": 1}, SCORES)
    monkeypatch.undo()
    assert load_bundle(dest).card["marker"] == "old"
    assert assert_only_bundle_visible(dest) == []


def test_card_update_on_a_full_disk_keeps_the_old_card(tmp_path, monkeypatch):
    dest = tmp_path / "models" / "current"
    old_bundle(dest)
    card_before = (dest / bundle_mod.CARD_FILE).read_bytes()

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundle_mod.os, "replace", full)
    with pytest.raises(BundleError, match="cannot save changes"):
        update_card(dest, {"threshold": {"value": 0.3}})
    monkeypatch.undo()
    assert (dest / bundle_mod.CARD_FILE).read_bytes() == card_before
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".card")) == []
    assert load_bundle(dest).card["marker"] == "old"
