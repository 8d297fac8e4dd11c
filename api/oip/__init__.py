"""The Open Inference Protocol v2 (REST) of KServe, MLServer and Triton: ``/v2``.

``schemas`` (the protocol's objects, for the docs), ``request`` (tensors in, JSON and the
binary tensor extension), ``reader`` (``RequestReader``: requests read remembering the
binary extension's headers), ``response`` (tensors out), ``handler`` (``OipHandler``:
health, metadata, infer through ``PredictionHandler``), ``routes`` (FastAPI routes, the
infer docs), ``fast`` (infer in plain ASGI, on ``PredlogApi``'s pattern routes).
"""
