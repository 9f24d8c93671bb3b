"""docs/serving.md lists every setting the services read (the manifests are written from it)."""

from __future__ import annotations

import re

import pytest
from stack_helpers import REPO

from services.gateway.settings import GatewaySettings
from services.worker.settings import WorkerSettings

DOC = (REPO / "docs" / "serving.md").read_text()


@pytest.mark.parametrize("settings, prefix", [(WorkerSettings, "WORKER_"),
                                              (GatewaySettings, "GATEWAY_")])
def test_every_setting_is_documented(settings, prefix):
    documented = set(re.findall(rf"^\| `({prefix}[A-Z_]+)` \|", DOC, flags=re.MULTILINE))
    fields = {prefix + name.upper() for name in settings.model_fields}
    assert fields == documented, {"undocumented": fields - documented,
                                  "no such setting": documented - fields}


def test_every_error_code_is_documented():
    source = "\n".join((REPO / "services" / "gateway" / name).read_text()
                       for name in ("errors.py", "fetch.py", "inputs.py", "middleware.py"))
    codes = set(re.findall(r'"([a-z]+_[a-z_]+)",', source)) | set(
        re.findall(r'code = "([a-z_]+)"', source))
    codes = {c for c in codes if c.endswith(("_request", "_input", "_allowed", "_failed",
                                             "_found", "_large", "_type", "_error",
                                             "_unavailable", "_timeout"))}
    assert len(codes) >= 10, codes
    missing = sorted(c for c in codes if f"`{c}`" not in DOC)
    assert not missing, missing
