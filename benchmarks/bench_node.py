"""DICOM node under load: N instances from parallel storescu processes, through
`pneumoscope-cli listen` (the shipped model), results forwarded to a real Orthanc.

    python benchmarks/bench_node.py [--n 500] [--senders 4] [--no-forward]

The instances are copies of the shared chest DICOMs with new SOP Instance UIDs (a new study per
round of copies), made in a temporary folder. Reports instances/s received (all storescu
processes done), scored (all rows scored) and forwarded (SC + SR of every instance in Orthanc),
and checks that none is lost: acknowledged by the node = files in the inbox = rows scored
= pairs in Orthanc. Needs DCMTK (storescu) and, to forward, Orthanc (Debian packages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("PNEUMOSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_copies(out: Path, n: int) -> list[Path]:
    import pydicom
    from pydicom.uid import generate_uid

    sources = sorted((SHARED / "dicom" / "chest").glob("rsna_*.dcm"))  # all JPEG baseline: one storescu flag
    loaded = [pydicom.dcmread(s) for s in sources]
    paths = []
    for i in range(n):
        ds = loaded[i % len(loaded)]
        if i % len(loaded) == 0:
            study = generate_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = out / f"i{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def orthanc_start(folder: Path, sync: bool = True) -> tuple[subprocess.Popen[bytes], int, int]:
    dicom_port, http_port = free_port(), free_port()
    cfg = {"Name": "bench", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
           "DicomAet": "ORTHANC", "DicomPort": dicom_port, "HttpPort": http_port, "RemoteAccessAllowed": False,
           "AuthenticationEnabled": False, "Plugins": [], "SyncStorageArea": sync}
    (folder / "orthanc.json").write_text(json.dumps(cfg))
    proc = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            orthanc_get(http_port, "/system")
            return proc, dicom_port, http_port
        except OSError:
            time.sleep(0.2)
    raise SystemExit("Orthanc did not start")


def orthanc_get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as rsp:
        return json.loads(rsp.read())


def count_acks(text: str) -> int:
    return text.count("Received Store Response (Success)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--no-forward", action="store_true", help="keep results local (no Orthanc)")
    parser.add_argument("--runtime", choices=("keras", "litert", "both"), default="both",
                        help="score through Keras/TensorFlow (before issue 18), LiteRT, or both in turn")
    parser.add_argument("--orthanc-no-sync", action="store_true",
                        help="Orthanc without an fsync per stored file (SyncStorageArea false): what the node "
                             "itself can do when the PACS answers fast")
    parser.add_argument("--heat-map", choices=("pm", "sc", "both"), default="sc",
                        help="heat-map object sent with the SR (default sc: SC + SR per instance)")
    args = parser.parse_args()
    runtimes = ["keras", "litert"] if args.runtime == "both" else [args.runtime]
    results = {rt: run_once(args, rt) for rt in runtimes}
    print()
    print(f"{'instances/s':<28}" + "".join(f"{rt:>12}" for rt in runtimes))
    for key in ("received", "scored", "forwarded"):
        print(f"{key:<28}" + "".join(f"{results[rt].get(key, float('nan')):>12.2f}" for rt in runtimes))
    print(f"{'lost':<28}" + "".join(f"{results[rt]['lost']:>12d}" for rt in runtimes))
    return 0 if all(r["lost"] == 0 for r in results.values()) else 1


def run_once(args: argparse.Namespace, runtime: str) -> dict:
    print(f"--- runtime: {runtime}")
    rates: dict = {}
    for tool in ["storescu"] + ([] if args.no_forward else ["Orthanc"]):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (apt-get install dcmtk orthanc)")
    from core.node.inbox import Inbox

    work = Path(tempfile.mkdtemp(prefix="bench_node_"))
    orthanc = None
    listener = None
    try:
        files = make_copies(work, args.n)
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        print(f"{args.n} instances ({size_mb:.0f} MB) from {args.senders} storescu processes")
        port = free_port()
        cmd = [sys.executable, "-m", "core.cli", "listen", "--port", str(port), "--inbox", str(work / "inbox"),
               "--quiet", "--interval", "30"]
        if not args.no_forward:
            (work / "orthanc").mkdir()
            orthanc, o_dicom, o_http = orthanc_start(work / "orthanc", sync=not args.orthanc_no_sync)
            cmd += ["--send-to", f"127.0.0.1:{o_dicom}:ORTHANC", "--heat-map", args.heat_map]
        env = dict(os.environ, PYTHONPATH=str(REPO), PNEUMOSCOPE_HOME=str(work / "home"))
        env.pop("PNEUMOSCOPE_RUNTIME", None)
        if runtime == "keras":
            env["PNEUMOSCOPE_RUNTIME"] = "keras"
        listener = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
        assert listener.stdout is not None
        for line in listener.stdout:
            if "listening on" in line:
                break
        else:
            raise SystemExit("the listener did not start")
        inbox = Inbox(work / "inbox")
        chunks = [files[i :: args.senders] for i in range(args.senders)]
        t0 = time.perf_counter()
        senders = [subprocess.Popen(["storescu", "-v", "-xy", "-aec", "PNEUMOSCOPE", "127.0.0.1", str(port),
                                     *map(str, chunk)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                   for chunk in chunks]
        outputs = [p.communicate()[0] for p in senders]
        t_received = time.perf_counter() - t0
        acked = sum(count_acks(o) for o in outputs)
        t_scored = t_sent = None
        while True:
            c = inbox.counts()
            now = time.perf_counter() - t0
            if t_scored is None and c["scored"] + c["failed"] >= acked:
                t_scored = now
            if args.no_forward and t_scored is not None:
                break
            if not args.no_forward and c["sent"] + c.get("send_failed", 0) >= acked and t_scored is not None:
                rows = inbox.worklist.rows()
                if all(r.sent for r in rows):  # "sent" or "failed: why": every instance has an outcome
                    t_sent = now
                    break
            if now > 3600:
                print("gave up after an hour")
                break
            time.sleep(0.5)
        c = inbox.counts()
        print(f"acknowledged {acked}/{args.n}; in the inbox {c['on_disk']}; scored {c['scored']}; "
              f"failed {c['failed']}; partial files {c['partial_files']}")
        rates["received"] = acked / t_received
        print(f"received: {t_received:.1f} s = {acked / t_received:.1f} instances/s "
              f"({size_mb / t_received:.1f} MB/s)")
        if t_scored:
            rates["scored"] = c["scored"] / t_scored
            print(f"scored:   {t_scored:.1f} s = {c['scored'] / t_scored:.2f} instances/s (from the first byte)")
        lost = args.n - acked
        if not args.no_forward and t_sent:
            stats = orthanc_get(o_http, "/statistics")
            in_orthanc = int(stats["CountInstances"])
            rates["forwarded"] = c["sent"] / t_sent
            per = 3 if args.heat_map == "both" else 2
            kinds = {"pm": "PM + SR", "sc": "SC + SR", "both": "SC + PM + SR"}[args.heat_map]
            print(f"forwarded: {t_sent:.1f} s = {c['sent'] / t_sent:.2f} instances/s; Orthanc holds {in_orthanc} "
                  f"result objects (expected {per * acked}: {kinds} each)")
            lost += max(0, per * acked - in_orthanc) // per
        lost += acked - c["on_disk"] + (c["on_disk"] - c["scored"]) + c.get("send_failed", 0)
        if c.get("send_failed"):
            print(f"results not sent: {c['send_failed']} (see the worklist's send_failed records)")
        print(f"lost: {lost}")
        rates["lost"] = lost
        return rates
    finally:
        if listener is not None and listener.poll() is None:
            listener.send_signal(signal.SIGINT)
            try:
                listener.wait(120)
            except subprocess.TimeoutExpired:
                listener.kill()
        if orthanc is not None:
            orthanc.terminate()
            orthanc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
