"""The demo ONNX model behind KServe's model server: a remote version's upstream in tests.

Run by ``.venv-upstream/bin/python`` (KServe pins ``psutil<6``, so it has a virtual
environment of its own, built by ``make install`` from ``requirements/upstream.txt``):

    .venv-upstream/bin/python tests/api/remote/kserve_server.py --bundle var/models/iris/1 \
        --name iris --http_port 8080

A ``kserve.Model`` that runs the bundle's graph with onnxruntime and answers the Open
Inference Protocol v2 (``/v2/models/iris/infer``, ``/v2/health/ready``) through KServe's
own REST server. It imports nothing of predlog.
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

import kserve
import kserve.model_server
import numpy as np
import onnxruntime
from kserve import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.server import RESTServer


class LoopbackRESTServer(RESTServer):  # type: ignore[misc]  # kserve has no type hints
    """KServe's REST server on 127.0.0.1: its own hard-codes 0.0.0.0 (a server under test
    binds the loopback only). KServe has no option for the address, so ``main`` puts this
    class where ``ModelServer.start`` looks its REST server up; the test checks the address
    the process listens on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = "127.0.0.1"  # uvicorn reads it when it binds, in serve()


class OnnxBundleModel(kserve.Model):  # type: ignore[misc]  # kserve has no type hints
    """One predlog bundle's classifier graph, served by KServe."""

    def __init__(self, name: str, bundle: Path) -> None:
        super().__init__(name)
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        self.session = onnxruntime.InferenceSession(
            str(bundle / manifest["model_file"]), providers=["CPUExecutionProvider"]
        )
        self.input_name: str = manifest["input_name"]
        self.output: str = manifest["proba_output"]
        self.load()

    def load(self) -> bool:
        """The session is open: ready."""
        self.ready = True
        return True

    async def predict(
        self, payload: InferRequest, headers: Any = None, response_headers: Any = None
    ) -> InferResponse:
        """The class probabilities of the rows of the request's first input."""
        batch = np.ascontiguousarray(payload.inputs[0].as_numpy(), dtype=np.float32)
        (proba,) = self.session.run([self.output], {self.input_name: batch})
        output = InferOutput(
            name="probabilities",
            shape=list(proba.shape),
            datatype="FP32",
            data=proba.reshape(-1).tolist(),
        )
        # the protocol's id is optional; KServe's answer wants one
        answer_id = payload.id or uuid.uuid4().hex
        return InferResponse(response_id=answer_id, model_name=self.name, infer_outputs=[output])


def main() -> None:
    """Serve ``--bundle`` as ``--name`` (KServe's own flags, e.g. ``--http_port``, pass on)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--name", default="iris")
    args, _ = parser.parse_known_args()
    model = OnnxBundleModel(args.name, args.bundle)
    kserve.model_server.RESTServer = LoopbackRESTServer
    kserve.ModelServer(enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
