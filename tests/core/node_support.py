"""Helpers for the DICOM node tests: real DCMTK tools, a real Orthanc, a cutting TCP proxy.

Tools come from Debian (``dcmtk``, ``orthanc``, ``dicom3tools``). When one is missing the test
tries ``apt-get install``; if that is impossible it skips with the reason, or fails under
``PNEUMOSCOPE_REQUIRE_DATA=1`` (CI), where the tools must be there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_TS_FLAG = {
    "1.2.840.10008.1.2.4.50": "-xy",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "-xx",  # JPEG extended
    "1.2.840.10008.1.2.4.70": "-xs",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.90": "-xv",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "-xw",  # JPEG 2000
    "1.2.840.10008.1.2.4.80": "-xt",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "-xu",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.5": "-xr",  # RLE
}
_APT_TRIED: set[str] = set()


def need_tool(binary: str, package: str) -> str:
    """Path of ``binary``; installs ``package`` with apt-get if needed, else skips (or fails in CI)."""
    found = shutil.which(binary)
    if found:
        return found
    if package not in _APT_TRIED and shutil.which("apt-get") and os.geteuid() == 0:
        _APT_TRIED.add(package)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package],
                       env=env, capture_output=True, timeout=600, check=False)
        found = shutil.which(binary)
        if found:
            return found
    reason = f"{binary} (Debian package {package}) is not installed and could not be installed here"
    if os.environ.get("PNEUMOSCOPE_REQUIRE_DATA") == "1":
        pytest.fail(reason + " (PNEUMOSCOPE_REQUIRE_DATA=1: .ci/run installs it)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chest_files(dicom_dir: Path) -> list[Path]:
    return sorted((dicom_dir / "chest").glob("*.dcm"))


def storescu(
    files: list[Path], port: int, aec: str = "PNEUMOSCOPE", aet: str = "STORESCU", timeout: float = 120.0
) -> dict[str, Any]:
    """Send files with DCMTK storescu, one run per transfer syntax (storescu proposes one kind
    of compression per run). Returns ``{"acked": [files answered Success], "failed": [...],
    "output": text, "returncodes": [...]}``."""
    import pydicom

    exe = need_tool("storescu", "dcmtk")
    groups: dict[str, list[Path]] = {}
    for f in files:
        try:
            ts = str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        except Exception:
            ts = ""
        groups.setdefault(_TS_FLAG.get(ts, "-xe"), []).append(f)
    acked: list[Path] = []
    failed: list[Path] = []
    output = []
    codes = []
    for flag, group in groups.items():
        proc = subprocess.run(
            [exe, "-v", flag, "-aet", aet, "-aec", aec, "127.0.0.1", str(port), *map(str, group)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        text = proc.stdout + proc.stderr
        output.append(text)
        codes.append(proc.returncode)
        ok = parse_storescu_acks(text)
        acked += [f for f in group if str(f) in ok]
        failed += [f for f in group if str(f) not in ok]
    return {"acked": acked, "failed": failed, "output": "\n".join(output), "returncodes": codes}


def parse_storescu_acks(text: str) -> set[str]:
    """Files storescu -v reports as answered with status Success."""
    acked: set[str] = set()
    current = None
    for line in text.splitlines():
        m = re.search(r"Sending file: (.+)$", line)
        if m:
            current = m.group(1).strip()
        elif "Received Store Response (Success)" in line and current:
            acked.add(current)
            current = None
    return acked


class Orthanc:
    """A throwaway Orthanc on loopback ports, storing in a temp folder, no auth, no plugins."""

    def __init__(self, folder: Path, aet: str = "ORTHANC", modalities: dict[str, list[Any]] | None = None) -> None:
        self.exe = need_tool("Orthanc", "orthanc")
        self.folder = folder
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.config = {
            "Name": "pneumoscope-test",
            "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"),
            "DicomAet": aet,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowFind": True,
            "Plugins": [],
            "DicomModalities": modalities or {},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []  # extra command-line options, e.g. ["--verbose"]

    def start(self, timeout: float = 30.0) -> Orthanc:
        self.folder.mkdir(parents=True, exist_ok=True)
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(self.config))
        self.log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([self.exe, *self.args, str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as rsp:
            body = rsp.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body

    def instances(self) -> list[dict[str, Any]]:
        return self.get("/instances?expand")

    def file(self, orthanc_id: str) -> bytes:
        return self.get(f"/instances/{orthanc_id}/file")

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class CuttingProxy:
    """TCP proxy on loopback that forwards a connection to ``target`` and, after ``cut_after``
    bytes from the client, drops both sides (a sender that dies mid-PDU)."""

    def __init__(self, target_port: int, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = int(self.server.getsockname()[1])
        self.forwarded = 0
        self.cut = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def back() -> None:
            try:
                while data := upstream.recv(65536):
                    client.sendall(data)
            except OSError:
                pass

        threading.Thread(target=back, daemon=True).start()
        try:
            while self.forwarded < self.cut_after:
                data = client.recv(min(65536, self.cut_after - self.forwarded))
                if not data:
                    break
                upstream.sendall(data)
                self.forwarded += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                # shutdown first: a plain close() is deferred while the other thread sits in recv()
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
            self.cut.set()

    def close(self) -> None:
        self.server.close()


def copy_with_new_uids(sources: list[Path], out_dir: Path, n: int) -> list[Path]:
    """``n`` copies of the sources (cycled) with new SOP Instance UIDs (new series/study too)."""
    import pydicom
    from pydicom.uid import generate_uid

    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = [pydicom.dcmread(s) for s in sources]
    paths = []
    for i in range(n):
        ds = loaded[i % len(loaded)]
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if i % len(loaded) == 0:
            study, series = generate_uid(), generate_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        out = out_dir / f"copy_{i:04d}.dcm"
        ds.save_as(out, enforce_file_format=True)
        paths.append(out)
    return paths


def start_listen(args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    """``pneumoscope-cli listen ARGS`` in a child process, once it says it is listening; returns the
    process (stdout piped, text) and the lines it printed so far."""
    import sys

    cli = subprocess.Popen([sys.executable, "-m", "core.cli", "listen", *args], cwd=REPO,
                           env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert cli.stdout is not None
    for line in cli.stdout:
        lines.append(line)
        if "listening on" in line:
            break
    if "listening on" not in "".join(lines):
        cli.kill()
        raise AssertionError("".join(lines)[-3000:])
    return cli, lines
