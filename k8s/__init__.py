"""The Kubernetes manifests (``base/``, ``overlays/``) and their checks (``policy/``).

A Python package only so that ``python -m k8s.policy`` runs from the repository root and
the tests can ``from k8s import policy``; nothing here is installed with the project.
"""
