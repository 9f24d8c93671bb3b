"""The inference worker: gRPC service over the trained models in ``models/``.

Run it with ``python -m services.worker`` (settings: ``WORKER_*`` environment variables,
see :mod:`services.worker.settings`); the contract is ``services/proto/inference.proto``.
"""
