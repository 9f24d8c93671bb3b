"""What goes in and comes out of the REST API (also the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from services.proto import MODEL_NAME_MAX_LENGTH, MODEL_NAME_PATTERN

#: A drawing sent as numbers may be at most this many pixels on a side (as in the worker).
MAX_SIDE = 2048
#: The longest cat_url accepted (JSON and forms alike).
MAX_URL_LENGTH = 2048

#: The first MNIST test digit (a 7, 28x28, black on white) as the page would send it: the
#: example ``/docs`` offers under "Try it out" (tests/services/test_serving_docs.py checks
#: it is that digit and that the trained models read a 7).
DIGIT_EXAMPLE = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA2ElEQVR42mP8z4AbMDEMJUkWCLVmthRHtIQKmiQj"
    "xJ9KDxgYGHi1oYIyZSbIOmdf1Lp2/sAJ2ccMDCyizxnkTJB1MjAwMDC8P29ymoGBQ03z3ZQsiMh/DLCGSe8thIUp"
    "+VKMYQ2UiemVqa8F1WFsdI1H2BgP/selc9tvZ0sGHDq/GbEfhXPQJRsZPf/jktzCwn8Ml+QbJcbI/zgk/5gwqtzB"
    "JXmTkXHTfxySD+QZe/4hSyL7c9YjBntGFE8j1B3iZWQ8/R+HziNfGJR5sCUTCNDfK4QtmWAHAPRoNF1JY7DJAAAA"
    "AElFTkSuQmCC"
)

#: What an image sent as text may be (the JSON schema of it; the gateway's base64 decoding
#: refuses anything else with a 400): base64 characters, optionally after a data: URL
#: header, spaces and line breaks allowed.
BASE64_IMAGE = {
    "type": "string",
    "pattern": r"^\s*(data:[^,]*;base64,)?[A-Za-z0-9+/=\s]*[A-Za-z0-9+/=][A-Za-z0-9+/=\s]*$",
    "description": "an image file (PNG, JPEG, WebP or GIF) as base64, or a data: URL "
    "(data:image/png;base64,...) such as canvas.toDataURL() gives",
}
#: Rows of grey levels: what the schema can say (the gateway also checks that every row
#: has the same length, which JSON Schema cannot express).
PIXEL_ROWS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_SIDE,
    "items": {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_SIDE,
        "items": {"type": "number", "minimum": 0, "maximum": 255},
    },
    "description": f"rows of grey levels in [0, 255] (or [0, 1]), 1 to {MAX_SIDE} rows of "
    f"1 to {MAX_SIDE} numbers, every row as long as the first",
}

#: An image given as base64 text or as rows of numbers; validation errors name only the
#: form that was sent (``image.pixels[3][4]: ...``), not both.
ImageField = Annotated[
    Annotated[str, Tag("base64"), WithJsonSchema(BASE64_IMAGE)]
    | Annotated[list[list[float]], Tag("pixels"), WithJsonSchema(PIXEL_ROWS)],
    Discriminator(
        lambda value: "base64" if isinstance(value, str)
        else "pixels" if isinstance(value, list) else None,
        custom_error_type="image_type",
        custom_error_message="image must be a base64 string or a list of pixel rows",
    ),
]


class DigitRequest(BaseModel):
    """A handwritten digit to classify."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    image: ImageField = Field(
        description="a PNG/JPEG/WebP/GIF file as base64 (a data: URL such as canvas.toDataURL() "
        "gives is fine), or the drawing as rows of grey levels in [0, 255] (or [0, 1]); "
        "either polarity",
        examples=[DIGIT_EXAMPLE],
    )
    model: str | None = Field(
        None,
        min_length=1,
        max_length=MODEL_NAME_MAX_LENGTH,
        pattern=MODEL_NAME_PATTERN,
        description="which digit model to use: the name of any digit model the worker "
        "serves (GET /api/models lists them), e.g. digits-cnn, digits-mlp or a model of "
        "your own, or an alias listed with it (cnn, mlp). Omitted or null: the worker's "
        "default digit model (WORKER_DEFAULT_DIGIT_MODEL, digits-cnn). A name the worker "
        "does not serve is a 400 listing the served ones",
        examples=["cnn", "digits-mlp"],
    )
    # strict: the schema says boolean, so 0, 1 or "yes" are refused rather than read as one
    saliency: StrictBool = Field(False, description="also return a saliency map")

    @field_validator("image")
    @classmethod
    def _rectangular(cls, image):
        if isinstance(image, str):
            if not image.strip():
                raise ValueError("the image string is empty")
            return image
        if not image or not image[0]:
            raise ValueError("the pixel array is empty")
        height, width = len(image), len(image[0])
        if height > MAX_SIDE or width > MAX_SIDE:
            raise ValueError(f"the pixel array may be at most {MAX_SIDE}x{MAX_SIDE}")
        if any(len(row) != width for row in image):
            raise ValueError("every row of the pixel array must have the same length")
        if any(v < 0 or v > 255 for row in image for v in row):
            raise ValueError("pixel values must lie in [0, 255]")
        return image


#: "Exactly one of ``image`` and ``cat_url``" in JSON Schema (either may be sent as null).
EXACTLY_ONE_SOURCE = [
    {"required": ["image"], "properties": {"image": {"type": "string"},
                                           "cat_url": {"type": "null"}}},
    {"required": ["cat_url"], "properties": {"cat_url": {"type": "string"},
                                             "image": {"type": "null"}}},
]


class CatJSONRequest(BaseModel):
    """A photo to classify, as base64 or as a URL to fetch (exactly one of them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": EXACTLY_ONE_SOURCE})

    image: Annotated[str, WithJsonSchema(BASE64_IMAGE)] | None = Field(
        None, description="the image file as base64 (or a data: URL)")
    cat_url: str | None = Field(
        None, max_length=MAX_URL_LENGTH,
        description="an http(s) URL of a PNG/JPEG/WebP/GIF image",
        examples=["https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg"],
    )

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.image is None) == (self.cat_url is None):
            raise ValueError("send exactly one of 'image' (base64) and 'cat_url'")
        return self


class DigitAnswer(BaseModel):
    """The model's answer for a digit."""

    digit: int = Field(description="the predicted digit", ge=0, le=9)
    probabilities: list[float] = Field(description="probability of each digit 0-9 (sums to 1)")
    input_image: list[list[float]] = Field(
        description="the 28x28 image the model saw after preprocessing, values in [0, 1], 1 = ink"
    )
    saliency: list[list[float]] | None = Field(
        None, description="28x28 map of how much each pixel mattered, in [0, 1] (if asked)"
    )
    model: str = Field(description="the model that answered, e.g. digits-cnn")


class CatAnswer(BaseModel):
    """The model's answer for a photo."""

    label: str = Field(description="the predicted class: cat or non-cat")
    probability: float = Field(description="probability of the predicted class")
    cat_probability: float = Field(description="probability that the photo shows a cat")
    model: str = Field(description="the model that answered, e.g. cat")
    input_image: str = Field(description="the 64x64 picture the model saw, as a PNG data: URL")


class ModelSummary(BaseModel):
    name: str = Field(description="what a request's model field may say, e.g. digits-cnn")
    aliases: list[str] = Field(
        default_factory=list, description="other names requests may use for it, e.g. cnn"
    )
    task: str = Field(description="cat or digits")
    classes: list[str]
    default: bool = Field(description="used when a request names no model")
    card: dict[str, Any] = Field(description="the model card: architecture, data, metrics, sha256")


class ModelList(BaseModel):
    models: list[ModelSummary]


class Status(BaseModel):
    status: str
    detail: str | None = None


class ErrorBody(BaseModel):
    """Every error answer (4xx and 5xx) has this shape."""

    error: str = Field(description="machine-readable code, e.g. invalid_input")
    detail: str = Field(description="what went wrong, in plain words")
    message: str = Field(
        description="the same for a person, one sentence to show as it is (what the web page "
        "and the drawing pad show); for 5xx without internals such as deadlines or gRPC codes"
    )
    request_id: str
    errors: list[dict[str, str]] | None = Field(None, description="field problems (400 only)")
