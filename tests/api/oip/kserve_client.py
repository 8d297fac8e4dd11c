"""Run by ``.venv-upstream``'s Python (the KServe SDK cannot share the project's .venv: it
pins psutil<6): KServe's own ``InferenceRESTClient`` (Open Inference Protocol v2) against a
running predlog api. Prints what it saw as one JSON object on stdout.

    .venv-upstream/bin/python tests/api/oip/kserve_client.py http://127.0.0.1:8000
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

ROWS = [[6.7, 3.0, 5.2, 2.3], [5.1, 3.5, 1.4, 0.2]]


async def main(base: str) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    try:
        seen: dict[str, Any] = {
            "live": await client.is_server_live(base),
            "ready": await client.is_server_ready(base),
            "model_ready": await client.is_model_ready(base, "iris"),
        }
        for datatype, dtype in (("FP32", np.float32), ("FP64", np.float64)):
            tensor = InferInput("input", [2, 4], datatype)
            tensor.set_data_from_numpy(np.asarray(ROWS, dtype=dtype))
            request = InferRequest("iris", [tensor], request_id=f"kserve-{datatype}")
            response = await client.infer(base, request, model_name="iris")
            seen[datatype] = {
                "id": response.id,
                "model_name": response.model_name,
                "outputs": {out.name: out.as_numpy().tolist() for out in response.outputs},
            }
        try:
            await client.infer(base, {"inputs": []}, model_name="nope")
        except Exception as exc:  # the SDK raises on an error answer: what it says
            seen["error"] = str(exc)
        return seen
    finally:
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
