"""The REST gateway: FastAPI in front of the gRPC worker, and the static page locally.

Run it with ``python -m services.gateway`` (settings: ``GATEWAY_*`` environment variables,
see :mod:`services.gateway.settings`); the API is described at ``/docs``.
"""
