"""Property-based fuzzing (hypothesis) of what the stack accepts from the outside world.

- ``preprocess_digit``: any array — dtype, shape, NaN, infinity, negative values — either
  becomes a 28x28 float32 image in [0, 1] whose brightest pixel is 1, or is refused with a
  ``ValueError`` (``EmptyDrawingError`` for no ink) carrying a message; and its uint8 fast
  path equals the general path bit for bit.
- The worker's image decoding: bytes mutated from a real PNG either decode or raise the
  worker's ``InputError``; nothing else escapes.
- The request models, through the real gateway and worker: JSON bodies of every shape and
  type the schema might meet get 200 with a well-formed answer or a 4xx with a clear
  message; never a 5xx.

Every search is bounded and derandomized (the same examples on every run, no example
database), so CI is reproducible; ``deadline=None`` because a busy machine is not a bug.
"""

from __future__ import annotations

import base64
import json
import math

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from stack_helpers import drawn_digit, encode

from dlcore.digits import EmptyDrawingError, preprocess_digit
from services.gateway.errors import ApiError
from services.gateway.inputs import parse_json
from services.gateway.schemas import CatJSONRequest, DigitRequest
from services.proto import inference_pb2
from services.stack import Stack
from services.worker.preprocess import InputError, digit_input, digit_pixels

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- preprocess_digit ------------------------------------------------------------------------

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
DTYPES = st.sampled_from([np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64,
                          np.bool_])
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
    st.tuples(st.integers(1, 30), st.integers(1, 30), st.sampled_from([1, 3, 4])),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),  # mostly wrong shapes
)


@st.composite
def any_image(draw):
    dtype = np.dtype(draw(DTYPES))
    shape = draw(SHAPES)
    if dtype.kind == "f":
        elements = st.floats(-10, 300, width=32) | NON_FINITE
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -5), min(info.max, 70000))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(FUZZ, max_examples=400)
@given(any_image())
def test_preprocess_digit_answers_an_image_or_a_clear_value_error(image):
    try:
        x = preprocess_digit(image)
    except EmptyDrawingError as e:
        assert "empty" in str(e)
        return
    except ValueError as e:
        assert str(e), "a ValueError without a message"
        return
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert np.all(np.isfinite(x)) and x.min() >= 0 and x.max() == 1.0


@settings(FUZZ, max_examples=300)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=60)))
def test_preprocess_digit_fast_path_equals_the_general_path(image):
    answers = []
    for a in (image, image.astype(np.uint16)):  # uint16 takes the general path
        try:
            answers.append(preprocess_digit(a).tobytes())
        except EmptyDrawingError as e:
            answers.append(str(e))
    assert answers[0] == answers[1]


# -- the worker's decoding of image files ----------------------------------------------------

PNG = encode(drawn_digit(56))


@st.composite
def mutated_png(draw):
    data = bytearray(PNG)
    for _ in range(draw(st.integers(1, 6))):
        operation = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(data) - 1)) if data else 0
        if operation == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif operation == "cut":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


@settings(FUZZ, max_examples=300)
@given(st.one_of(mutated_png(), st.binary(max_size=200)))
def test_worker_decoding_of_damaged_files_fails_only_with_input_error(data):
    try:
        x = digit_input(digit_pixels(inference_pb2.Image(encoded=data)))
    except InputError as e:
        assert str(e)
        return
    assert x.shape == (28, 28) and np.all(np.isfinite(x))


# -- the request models ----------------------------------------------------------------------

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30,
)


@settings(FUZZ, max_examples=400)
@given(st.one_of(ANY_JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=100)))
@pytest.mark.parametrize("schema", [DigitRequest, CatJSONRequest])
def test_request_models_accept_or_say_what_is_wrong(schema, body):
    try:
        parse_json(body, schema)
    except ApiError as e:
        assert (e.status, e.code) == (400, "invalid_request")
        assert e.detail.startswith("invalid request: ") or "empty" in e.detail


def b64_png(image) -> str:
    return "data:image/png;base64," + base64.b64encode(encode(image)).decode()


PIXEL_VALUES = st.one_of(st.floats(-2, 300), NON_FINITE,
                         st.integers(-5, 300), st.sampled_from([0, 1, 255, 0.5]))


@st.composite
def pixel_rows(draw):
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rows = [[draw(PIXEL_VALUES) for _ in range(width)] for _ in range(height)]
    if draw(st.booleans()):
        rows = [[255 if (r + c) % 5 == 0 else 0 for c in range(width)] for r in range(height)]
    if height > 1 and draw(st.integers(0, 9)) == 0:
        rows[-1] = rows[-1][:-1] or [0, 0]  # ragged
    return rows


IMAGES = st.one_of(
    pixel_rows(),
    mutated_png().map(lambda data: base64.b64encode(data).decode()),
    st.sampled_from([b64_png(drawn_digit()), b64_png(drawn_digit(28)), ""]),
    st.text(max_size=40),
    ANY_JSON,
)
DIGIT_BODIES = st.fixed_dictionaries(
    {"image": IMAGES},
    optional={"model": st.one_of(st.sampled_from(["cnn", "mlp", None]), ANY_JSON),
              "saliency": st.one_of(st.booleans(), ANY_JSON),
              "extra": ANY_JSON},
)


@pytest.fixture(scope="module")
def http(tiny_models):
    with Stack(models_dir=tiny_models) as stack, \
            httpx.Client(base_url=stack.url, trust_env=False, timeout=30) as client:
        yield client


def check_answer(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text[:500]
    body = r.json()
    if r.status_code == 200:
        assert 0 <= body["digit"] <= 9
        assert math.isclose(sum(body["probabilities"]), 1, abs_tol=1e-4)
        seen = np.array(body["input_image"])
        assert seen.shape == (28, 28) and seen.min() >= 0 and seen.max() <= 1
    else:
        assert r.status_code in (400, 404, 413, 415), body
        assert body["error"] and body["detail"] and body["request_id"]


@settings(FUZZ, max_examples=150)
@given(body=DIGIT_BODIES)
def test_digit_requests_through_the_real_stack_never_get_a_5xx(http, body):
    check_answer(http.post("/api/digits", content=json.dumps(body).encode(),
                           headers={"content-type": "application/json"}))


# URLs that are refused before any lookup: loopback only, no DNS query leaves the machine
CAT_URLS = st.one_of(
    st.text(max_size=30).filter(lambda text: "http" not in text.lower()),
    st.sampled_from(["file:///etc/passwd", "http://127.0.0.2/cat.png", "http://[::1]/",
                     "https://10.0.0.1/c.jpg", "http://169.254.169.254/", "gopher://x",
                     "http://", "https://:0/", "http://[::ffff:127.0.0.1]:1/"]),
    ANY_JSON,
)


@settings(FUZZ, max_examples=60)
@given(body=st.one_of(
    st.fixed_dictionaries({}, optional={"image": st.one_of(IMAGES, ANY_JSON),
                                        "cat_url": CAT_URLS}),
    ANY_JSON,
))
def test_cat_requests_through_the_real_stack_never_get_a_5xx(http, body):
    # json.dumps writes NaN and Infinity as a browser's or a careless client's JSON would;
    # httpx's own encoder refuses them before anything is sent
    r = http.post("/api/cats", content=json.dumps(body).encode(),
                  headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text[:500]
    if r.status_code != 200:
        assert r.json()["detail"]
