"""The model registry in the store: what every worker of every replica serves.

``store`` reads and changes the registry's tables, ``archive`` unpacks uploaded bundles,
``live`` keeps a worker's routing table in step with the store's generation, and ``admin``
is the admin API's handler.
"""
