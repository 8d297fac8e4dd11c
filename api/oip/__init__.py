"""The Open Inference Protocol v2 (REST) of KServe, MLServer and Triton: ``/v2``.

``schemas`` (the protocol's objects, for the docs), ``codec`` (tensors in, JSON and the
binary tensor extension; tensors out), ``handler`` (``OipHandler``: health, metadata, infer
through ``PredictionHandler``), ``routes`` (FastAPI routes, the infer docs), ``fast`` (infer
in plain ASGI, on ``PredlogApi``'s pattern routes).
"""
