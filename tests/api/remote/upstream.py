"""Real upstream servers for remote versions: ``predlog api`` processes on the demo bundles.

Each one logs the calls it answers to a forward receiver of its own, so a test can count
which upstream answered what. ``stop`` / ``start`` take it down and bring it back on the
same port; ``pause`` / ``resume`` (SIGSTOP / SIGCONT) make it hang without closing
anything, as a stuck server does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from api.runtime.bundle import BundleManifest, RemoteSpec, load_manifest
from tests.api.fixtures import ForwardReceiver
from tests.support import free_port, port_open, wait_for


class PredlogUpstream:
    """One ``predlog api`` process serving ``models_dir`` (all traffic to version 1) on a port
    that stays its own."""

    def __init__(self, models_dir: Path, spool: Path) -> None:
        self.models_dir = models_dir
        self.spool = spool
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.receiver = ForwardReceiver()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PredlogUpstream:
        self.receiver.__enter__()
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.resume()
        self.stop()
        self.receiver.__exit__(kind, exc, tb)

    def start(self) -> None:
        """Start the process and wait until it answers."""
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "predlog", "api", "--port", str(self.port),
                "--workers", "1", "--models", str(self.models_dir),
                "--forward", f"127.0.0.1:{self.receiver.port}", "--spool", str(self.spool),
                "--log-level", "warning", "--shutdown-drain", "0", "--weights", "1=1,2=0",
            ]
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), timeout=90)

    def stop(self) -> None:
        """Stop the process (its port then refuses connections)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=40)
            self.process = None

    def pause(self) -> None:
        """Freeze the process: connections open, nothing answered."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process go on."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def answered(self) -> int:
        """Prediction records this upstream has logged so far."""
        return sum(1 for r in self.receiver.records if r.get("endpoint") != "/v2/health/ready")


def remote_manifest(
    bundle: Path,
    endpoints: list[str],
    *,
    version: str,
    protocol: str = "oip",
    detector: bool = False,
    model: str | None = None,
) -> BundleManifest:
    """The demo bundle's manifest as a remote version's (what ``write_remote_bundle`` writes)."""
    base = load_manifest(bundle)
    spec = RemoteSpec.model_validate({"endpoints": endpoints, "protocol": protocol, "model": model})
    update: dict[str, object] = {"version": version, "remote": spec}
    if not detector:
        update["detector"] = None
    update.update(label_output=None, score_output=None, outlier_output=None)
    return BundleManifest.model_validate({**base.model_dump(), **update})
