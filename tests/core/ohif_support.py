"""Serves the prebuilt OHIF viewer (tools/ohif/viewer) on a loopback port with its own
app-config.js, and proxies /dicom-web to a test Orthanc, so the viewer and the DICOMweb server
share one origin (no CORS set-up in Orthanc)."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.core.node_support import free_port

APP_CONFIG = """window.config = {
  routerBasename: null, extensions: [], modes: [], customizationService: {}, showStudyList: true,
  maxNumberOfWebWorkers: 2, showWarningMessageForCrossOrigin: false, showCPUFallbackMessage: false,
  strictZSpacingForVolumeViewport: false, investigationalUseDialog: { option: 'never' },
  defaultDataSourceName: 'orthanc',
  dataSources: [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'orthanc',
    configuration: {
      friendlyName: 'Orthanc (test)', name: 'orthanc',
      wadoUriRoot: '%(root)s', qidoRoot: '%(root)s', wadoRoot: '%(root)s',
      qidoSupportsIncludeField: false, imageRendering: 'wadors', thumbnailRendering: 'wadors',
      enableStudyLazyLoad: true, supportsFuzzyMatching: false, supportsWildcard: true,
      staticWado: false, singlepart: 'bulkdata,video', bulkDataURI: { enabled: true },
      omitQuotationForMultipartRequest: true,
    },
  }],
};
"""


class ViewerServer:
    def __init__(self, viewer: Path, orthanc_http_port: int) -> None:
        self.viewer = viewer
        self.port = free_port()
        self.upstream = f"http://127.0.0.1:{orthanc_http_port}"
        config = (APP_CONFIG % {"root": f"http://127.0.0.1:{self.port}/dicom-web"}).encode()
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **k: Any) -> None:
                super().__init__(*a, directory=str(outer.viewer), **k)

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path.startswith("/dicom-web"):
                    return self._proxy()
                if path == "/app-config.js":
                    return self._send(200, config, "application/javascript")
                if path == "/" or not (outer.viewer / path.lstrip("/")).is_file():
                    self.path = "/index.html"  # the viewer's own routes (/viewer?...)
                return super().do_GET()

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _proxy(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
                req = urllib.request.Request(outer.upstream + self.path, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=60) as rsp:
                        body, code, ctype = rsp.read(), rsp.status, rsp.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    body, code, ctype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
                self._send(code, body, ctype)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ViewerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
