"""The node scores on two threads (issue 18): every instance once, really at once, and the result
builders are safe to call from both."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.cases import Case
from core.imaging import load_image
from core.node.inbox import Inbox, read_info
from core.node.worker import ScoringWorker

SHA = "c" * 64


class _Overlap:
    """A real scorer (decodes the file) that records how many calls ran at the same time."""

    def __init__(self, parallel: bool) -> None:
        self.parallel = parallel
        self.model_sha256 = SHA
        self.now = 0
        self.most = 0
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> Case:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.calls.append(path.name)
        try:
            xray = load_image(path)
            time.sleep(0.05)  # long enough for the other thread to be inside too
            score = float(np.mean(xray.pixels) / 255.0)
            return Case(path=str(path), xray=xray, score=score, threshold=0.5, threshold_source="test",
                        label="PNEUMONIA" if score >= 0.5 else "NORMAL")
        finally:
            with self._lock:
                self.now -= 1


def _filled_inbox(tmp_path: Path, dicom_dir: Path, n: int) -> tuple[Inbox, list[str]]:
    inbox = Inbox(tmp_path / "inbox")
    uids = []
    for f in sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[:n]:
        info = read_info(f)
        inbox.record_received(inbox.store(f, info.uid), info, calling_aet="TEST")
        uids.append(info.uid)
    return inbox, uids


@pytest.mark.parametrize("parallel, threads", [(True, 2), (False, 1)])
def test_a_parallel_scorer_gets_two_threads_and_each_instance_is_scored_once(
    tmp_path: Path, dicom_dir: Path, parallel: bool, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.node.worker.os.cpu_count", lambda: 2)
    inbox, uids = _filled_inbox(tmp_path, dicom_dir, 8)
    scorer = _Overlap(parallel)
    worker = ScoringWorker(inbox, scorer)
    assert worker.threads == threads
    worker.start()
    for uid in uids:
        worker.put(uid)
    assert worker.join_idle(60)
    worker.stop(10)
    assert scorer.most == threads
    assert sorted(scorer.calls) == sorted(inbox.path_for(u).name for u in uids)
    rows = {r.uid: r for r in inbox.worklist.rows()}
    assert all(rows[u].scored for u in uids) and worker.stats["scored"] == len(uids)
    assert worker.pending() == 0 and worker.busy == ""


def test_a_stopped_worker_restarts_with_what_was_queued(tmp_path: Path, dicom_dir: Path) -> None:
    inbox, uids = _filled_inbox(tmp_path, dicom_dir, 3)
    worker = ScoringWorker(inbox, _Overlap(True), threads=2)
    worker.start()
    worker.stop(10)  # leaves its stop markers behind in the queue
    for uid in uids:
        worker.put(uid)
    worker.start()  # the old markers must not stop the new threads
    assert worker.join_idle(60)
    worker.stop(10)
    assert worker.stats["scored"] == 3


def test_tid1500_reports_build_on_several_threads_at_once(dicom_dir: Path) -> None:
    """The RSNA CR images have no ImagerPixelSpacing: highdicom needs the lenient image library,
    which must stay in place while another thread builds (it used to be swapped in and out)."""
    from highdicom.sr import templates

    from core.node.results import build_results
    from tests.core.test_node_orthanc import scorer_with_map

    sources = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[:6]
    cases = {s: scorer_with_map(s) for s in sources}
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda s: build_results(s, cases[s], SHA, with_sc=False),
                              sources * 3))
    assert len(built) == 18 and all(str(objs[0].Modality) == "SR" for objs in built)
    lenient = templates.ImageLibraryEntryDescriptors._generate_projection_radiography_descriptors
    assert getattr(lenient, "_pneumoscope_lenient", False)


def test_litert_threads_each_get_an_interpreter_and_the_same_answers(dicom_dir: Path) -> None:
    from core.learning.bundle import load_bundle
    from core.learning.runtime import litert_available

    if not litert_available():
        pytest.skip("ai-edge-litert has no wheel here")
    bundle = load_bundle(Path(__file__).resolve().parents[2] / "models" / "default")
    runtime = bundle.runtime
    xs = [bundle.preprocess(load_image(p).pixels) for p in sorted((dicom_dir / "chest").glob("*.dcm"))[:6]]
    alone = [runtime.run(x) for x in xs]
    seen = set()

    def run(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        seen.add(id(runtime._interpreter()))
        return runtime.run(x)

    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(run, xs * 4))
    assert len(seen) >= 2
    for (s0, f0, c0), (s1, f1, c1) in zip(alone * 4, together, strict=True):
        assert s0 == s1 and np.array_equal(f0, f1) and np.array_equal(c0, c1)


def test_one_model_pass_gives_the_score_and_the_gate(dicom_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cases import score_case
    from core.learning.bundle import load_bundle
    from core.trust.ood import bundle_ood_score

    bundle = load_bundle(Path(__file__).resolve().parents[2] / "models" / "default")
    if bundle.runtime is None:
        pytest.skip("no LiteRT here")
    path = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[0]
    pixels = load_image(path).pixels
    want_score, want_ood = bundle.score_pixels(pixels), bundle_ood_score(bundle, pixels)
    passes = []
    real_run = type(bundle.runtime).run
    monkeypatch.setattr(type(bundle.runtime), "run", lambda self, x: passes.append(1) or real_run(self, x))
    for heat in (False, True):
        passes.clear()
        case = score_case(bundle, path, want_heatmap=heat, audit=False)
        assert len(passes) == 1, f"want_heatmap={heat}: {len(passes)} model passes"
        assert case.score == pytest.approx(want_score, abs=1e-7)
        assert case.ood_distance == pytest.approx(want_ood[0], abs=1e-9) and case.ood_flag == want_ood[1]
        assert (case.heatmap is not None) == heat
