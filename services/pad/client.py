"""The pad's HTTP client: ask a gateway about a drawing, get a :class:`Prediction` back or
a :class:`PadError` whose message a learner can read as it is.

::

    gateway = GatewayClient("http://127.0.0.1:8000/")
    answer = gateway.digits({"image": png_data_url(image), "model": "cnn"})

Every endpoint of the gateway the pad uses is one method named after it
(``digits`` for ``POST /api/digits``, ``models`` for ``GET /api/models``); the JSON going
in is the API's own (``docs/serving.md``), so nothing here knows about widgets or pixels.

Error wording: the gateway words its failures itself. Every error answer it sends carries
``message``, one sentence for a person (``services/gateway/errors.py`` is its only home,
and the web page shows the same field), and this client raises exactly that sentence.
Only what cannot come from the gateway is worded here, naming the address the pad was
given: no connection, no answer in time, an error page from something in between (a
proxy, an Ingress with no gateway behind it), an answer that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

LOOPBACK = ("127.0.0.1", "localhost", "::1")  # no proxy from the environment for these


class PadError(RuntimeError):
    """A prediction failed; the message is meant for the learner, as it is.

    ``code`` is the gateway's error code (``"invalid_request"``, ``"worker_unavailable"``,
    ...) when the gateway answered, else None.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ModelInfo:
    """One model the gateway serves (``ModelSummary`` in the API)."""

    name: str  #: what a request's ``model`` says, e.g. ``digits-cnn`` or ``my-mlp``
    task: str  #: ``digits`` or ``cat``
    aliases: tuple[str, ...] = ()  #: other names requests may use, e.g. ``("cnn",)``
    default: bool = False  #: answers the requests of its task that name no model
    card: dict = field(default_factory=dict, repr=False, compare=False)  #: the model card

    @classmethod
    def from_json(cls, summary: dict) -> ModelInfo:
        return cls(name=str(summary["name"]), task=str(summary["task"]),
                   aliases=tuple(str(a) for a in summary.get("aliases") or ()),
                   default=bool(summary.get("default")), card=dict(summary.get("card") or {}))

    def answers_to(self, name: str) -> bool:
        """Whether a request naming ``name`` gets this model."""
        return name == self.name or name in self.aliases


@dataclass(frozen=True, repr=False)
class Prediction:
    """What the gateway answered for a drawing (``DigitAnswer`` in the API)."""

    digit: int  #: the predicted digit
    probabilities: np.ndarray  #: ``(10,)``, the probability of each digit 0-9
    input_image: np.ndarray  #: ``(28, 28)`` in [0, 1], 1 = ink: what the model saw
    saliency: np.ndarray | None  #: ``(28, 28)`` in [0, 1], or None if not asked for
    model: str  #: the model that answered, e.g. ``digits-cnn``

    @classmethod
    def from_json(cls, answer: dict) -> Prediction:
        saliency = answer.get("saliency")
        return cls(
            digit=int(answer["digit"]),
            probabilities=np.asarray(answer["probabilities"], dtype=np.float64),
            input_image=np.asarray(answer["input_image"], dtype=np.float32),
            saliency=None if saliency is None else np.asarray(saliency, dtype=np.float32),
            model=str(answer["model"]),
        )

    @property
    def confidence(self) -> float:
        """The probability of the predicted digit."""
        return float(self.probabilities[self.digit])

    def __repr__(self) -> str:
        return (f"Prediction(digit={self.digit}, confidence={self.confidence:.3f}, "
                f"model={self.model!r})")


class GatewayClient:
    """The gateway at ``url`` (its base URL, e.g. ``http://127.0.0.1:8000/`` or a
    Kubernetes Ingress such as ``http://simpledl.test/``), waiting ``timeout`` seconds for
    each answer. Proxies from the environment are used except for loopback addresses."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout

    def digits(self, body: dict[str, Any]) -> Prediction:
        """``POST /api/digits`` with ``body`` (``{"image": ..., "model": ..., "saliency":
        ...}``); the answer, or :class:`PadError` with the sentence to show."""
        answer = self._call("POST", "api/digits", body)
        try:
            return Prediction.from_json(answer)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PadError(self._unreadable()) from None

    def models(self) -> list[ModelInfo]:
        """``GET /api/models``: every model the gateway serves, or :class:`PadError`."""
        answer = self._call("GET", "api/models")
        try:
            return [ModelInfo.from_json(summary) for summary in answer["models"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PadError(self._unreadable()) from None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of ``method <url><path>``; every failure as a PadError."""
        url = self.url + path
        try:
            response = httpx.request(method, url, json=body, timeout=self.timeout,
                                     trust_env=urlsplit(url).hostname not in LOOPBACK)
        except httpx.TimeoutException:
            raise PadError(f"The gateway at {self.url} did not answer within "
                           f"{self.timeout:g} s. Try again.") from None
        except httpx.TransportError:
            raise PadError(f"Could not reach the gateway at {self.url}. Is the stack "
                           "running? Start it with stack.start() (or make stack).") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not response.is_success:
            message = _message_of(answer)
            if message:
                code = answer.get("error")
                raise PadError(message, code if isinstance(code, str) else None)
            raise PadError(
                f"Something other than the gateway answered at {self.url} (HTTP "
                f"{response.status_code}, without the gateway's explanation). Is the stack "
                "running at that address?")
        if answer is None:
            raise PadError(self._unreadable())
        return answer

    def _unreadable(self) -> str:
        return f"The answer from {self.url} could not be read as the gateway's."

    def __repr__(self) -> str:
        return f"GatewayClient({self.url!r}, timeout={self.timeout:g})"


def _message_of(answer: Any) -> str | None:
    """The gateway's sentence for a person in an error answer, if it is one of its own."""
    message = answer.get("message") if isinstance(answer, dict) else None
    return message if isinstance(message, str) and message.strip() else None
