"""docs/serving.md lists every setting the services read (the manifests are written from it);
the API's documented digit example is a real drawing the trained models read."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from stack_helpers import REPO, repo_digit_models

from dlcore.data import DataError, load_mnist
from services.gateway.schemas import DIGIT_EXAMPLE, DigitRequest
from services.gateway.settings import GatewaySettings
from services.proto import inference_pb2
from services.worker.classify import classify_digit
from services.worker.models import load_models
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


def test_the_documented_digit_example_is_the_first_mnist_test_digit():
    example = DigitRequest.model_json_schema()["properties"]["image"]["examples"][0]
    assert example == DIGIT_EXAMPLE and example.startswith("data:image/png;base64,")
    png = base64.b64decode(example.split(",", 1)[1], validate=True)
    drawing = np.asarray(Image.open(io.BytesIO(png)))
    assert drawing.shape == (28, 28) and len(png) < 300  # tiny, as an example should be
    try:
        digit = load_mnist("mnist-small").test_x[0]
    except DataError as e:
        pytest.skip(f"mnist-small is not available ({e}); run: make data")
    np.testing.assert_array_equal(drawing, 255 - digit)  # black ink on white, as drawn
    directory, present = repo_digit_models()
    models = load_models(directory)
    for name in present:
        request = inference_pb2.DigitRequest(image=inference_pb2.Image(encoded=png), model=name)
        assert classify_digit(models, request).digit == 7, name
