"""The drawing pad widget: a canvas to draw a digit on, and what the served model answers.

An ipywidgets box (ipycanvas for the drawing): a 280x280 canvas drawn with the mouse in
thick round strokes, Clear and Predict buttons, a model selector and a result area with
the predicted digit, the ten probabilities as bars, the 28x28 image the model saw and the
saliency map. The selector offers the digit models the gateway serves, as ``GET
/api/models`` lists them (the course's CNN and MLP, and any model of your own served
beside them), asked when the pad is made and again whenever it has no list yet or the
gateway refused the selected name; :meth:`DigitPad.refresh_models` asks on demand.

The widget records the strokes, mirrors them onto the canvas and shows answers; the
pixels come from :mod:`services.pad.raster`, the answers from
:class:`services.pad.client.GatewayClient`, and every failure's wording from the gateway
(the client words only what cannot come from it). Stable CSS classes
(``simpledl-pad-canvas``, ``-clear``, ``-predict``, ``-model``, ``-digit``, ``-summary``,
``-error``, ``-bar``, ``-seen``, ``-saliency``) let a browser test find the parts.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Sequence

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas

from services.pad.client import GatewayClient, ModelInfo, PadError, Prediction
from services.pad.raster import (
    SIZE,
    Point,
    fit_image,
    gray_rgb,
    hot_rgb,
    png_bytes,
    png_data_url,
    rasterise,
)

log = logging.getLogger(__name__)

PAPER, INK = "#ffffff", "#000000"  # what the learner sees; the raster is MNIST-like
DIGITS = "digits"  # the task of the models the pad offers
SERVED_DEFAULT = "the served default"  # the selector's entry while no list is known


class DigitPad(widgets.HBox):
    """A canvas to draw a digit on, and what the served model answers for it.

    Args:
        url: the gateway's base URL, e.g. ``stack.url`` (``http://127.0.0.1:<port>/``) or
            a Kubernetes Ingress such as ``http://simpledl.test/``; the pad posts to
            ``<url>api/digits``.
        model: the model selected at the start: any digit model the gateway serves, by
            name (``"digits-cnn"``, ``"my-mlp"``) or alias (``"cnn"``, ``"mlp"``);
            ``None``: the gateway's default digit model.
        saliency: ask for the saliency map with every prediction.
        size: the canvas's side in pixels; strokes are ``size / 14`` wide (20 px for
            280), as on the web page: about the stroke width of an MNIST digit.
        timeout: seconds to wait for the gateway.
    """

    def __init__(
        self,
        url: str,
        model: str | None = None,
        saliency: bool = True,
        size: int = SIZE,
        timeout: float = 10.0,
    ) -> None:
        self.client = GatewayClient(url, timeout)  #: where Predict sends the drawing
        self.models: list[ModelInfo] = []  #: the digit models offered, from /api/models
        self.size = size
        self.line_width = size / 14
        self.saliency = saliency
        self.strokes: list[list[Point]] = []  #: what was drawn, in canvas pixels
        self.background: np.ndarray | None = None  #: an image given with set_image
        self.answer: Prediction | None = None  #: the last answer shown
        self._drawing = False

        self.canvas = Canvas(width=size, height=size,
                             layout=widgets.Layout(width=f"{size}px", height=f"{size}px"))
        self.canvas.add_class("simpledl-pad-canvas")
        self.canvas.on_mouse_down(self._guarded(self._mouse_down))
        self.canvas.on_mouse_move(self._guarded(self._mouse_move))
        self.canvas.on_mouse_up(self._guarded(self._mouse_up))
        self.canvas.on_mouse_out(self._guarded(self._mouse_up))
        # The border sits on a wrapping box: ipycanvas maps mouse positions through the
        # canvas element's bounding box, and a border on the canvas would shift them.
        paper = widgets.Box([self.canvas], layout=widgets.Layout(
            border="2px solid #888", width="fit-content", height="fit-content"))

        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.clear_button.add_class("simpledl-pad-clear")
        self.clear_button.on_click(self._guarded(lambda _: self.clear()))
        self.predict_button = widgets.Button(description="Predict", button_style="primary",
                                             icon="play")
        self.predict_button.add_class("simpledl-pad-predict")
        self.predict_button.on_click(self._guarded(self._predict_clicked))
        self.model_selector = widgets.Dropdown(options=[(SERVED_DEFAULT, "")], value="",
                                               layout=widgets.Layout(width="200px"))
        self.model_selector.add_class("simpledl-pad-model")
        hint = widgets.HTML("Draw one digit, 0 to 9, large and in the middle.")
        left = widgets.VBox([hint, paper, widgets.HBox([self.clear_button, self.predict_button]),
                             widgets.HBox([widgets.Label("Model:"), self.model_selector])])

        self.digit_label = widgets.Label("", style={"font_size": "40px", "font_weight": "bold"})
        self.digit_label.add_class("simpledl-pad-digit")
        self.summary_label = widgets.Label("Draw a digit and press Predict.")
        self.summary_label.add_class("simpledl-pad-summary")
        self.error_box = widgets.HTML("", layout=widgets.Layout(display="none", max_width="320px"))
        self.error_box.add_class("simpledl-pad-error")
        self.bars = [widgets.FloatProgress(value=0, min=0, max=1,
                                           layout=widgets.Layout(width="160px"))
                     for _ in range(10)]
        self.bar_values = [widgets.Label("") for _ in range(10)]
        rows = []
        for d in range(10):
            row = widgets.HBox([widgets.Label(str(d), layout=widgets.Layout(width="14px")),
                                self.bars[d], self.bar_values[d]])
            row.add_class("simpledl-pad-bar")
            rows.append(row)
        self.seen_image = widgets.Image(format="png", width=112, height=112)
        self.seen_image.add_class("simpledl-pad-seen")
        self.saliency_image = widgets.Image(format="png", width=112, height=112)
        self.saliency_image.add_class("simpledl-pad-saliency")
        pictures = widgets.HBox([
            widgets.VBox([widgets.Label("what the model saw (28x28)"), self.seen_image]),
            widgets.VBox([widgets.Label("saliency: where it looked"), self.saliency_image]),
        ])
        self.results = widgets.VBox(
            [widgets.HBox([widgets.Label("Predicted digit:"), self.digit_label],
                          layout=widgets.Layout(align_items="center")),
             widgets.VBox(rows), pictures],
            layout=widgets.Layout(display="none"))
        right = widgets.VBox([self.summary_label, self.error_box, self.results],
                             layout=widgets.Layout(margin="0 0 0 24px"))
        super().__init__([left, right])
        self.add_class("simpledl-pad")
        self._paint()
        try:
            self.refresh_models()
        except PadError:
            pass  # no gateway yet: Predict asks again (and says what is wrong)
        if model is not None:
            self.model = model

    # -- drawing -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The gateway's base URL, ending with ``/``."""
        return self.client.url

    @property
    def timeout(self) -> float:
        """Seconds to wait for the gateway."""
        return self.client.timeout

    @property
    def model(self) -> str | None:
        """The selected model's name (``"digits-cnn"``, ``"my-mlp"``), or None for the
        gateway's default. Set it by name or alias: ``pad.model = "mlp"``."""
        return self.model_selector.value or None

    @model.setter
    def model(self, value: str | None) -> None:
        if not value:
            self.model_selector.value = self._default_name()
            return
        if not self.models:  # no list from the gateway yet: it will say if the name is wrong
            self.model_selector.options = [(SERVED_DEFAULT, ""), (value, value)]
            self.model_selector.value = value
            return
        chosen = next((m for m in self.models if m.answers_to(value)), None)
        if chosen is None:
            raise ValueError(
                f"{value!r} is none of the digit models served at {self.url}: "
                + ", ".join(m.name + "".join(f" ({a})" for a in m.aliases) for m in self.models))
        self.model_selector.value = chosen.name

    def refresh_models(self) -> list[ModelInfo]:
        """Ask the gateway which digit models it serves (``GET /api/models``) and offer
        them in the selector, keeping the selection if it is still served.

        Raises:
            PadError: the gateway could not be asked (the selector stays as it was).
        """
        served = [m for m in self.client.models() if m.task == DIGITS]
        selected = self.model
        self.models = served
        options = [(f"{m.name} (default)" if m.default else m.name, m.name) for m in served]
        keep = next((m.name for m in served if selected and m.answers_to(selected)), None)
        self.model_selector.options = options or [(SERVED_DEFAULT, "")]
        self.model_selector.value = keep or self._default_name()
        return served

    def _default_name(self) -> str:
        return next((m.name for m in self.models if m.default), "")

    def clear(self) -> None:
        """Wipe the drawing and the answer."""
        self.strokes = []
        self.background = None
        self._drawing = False
        self._paint()
        self._show_answer(None)
        self._show_error("")
        self.summary_label.value = "Draw a digit and press Predict."

    def draw_strokes(self, strokes: Iterable[Sequence[Point]]) -> None:
        """Add strokes as if drawn with the mouse: each a list of ``(x, y)`` canvas pixels
        (``0 <= x, y < size``; y grows downwards), e.g. ``[[(140, 40), (140, 240)]]``."""
        for stroke in strokes:
            points = [(float(x), float(y)) for x, y in stroke]
            if not points:
                continue
            self._begin(*points[0])
            for point in points[1:]:
                self._extend(*point)
        self._drawing = False

    def set_image(self, image: np.ndarray, ink: str = "light") -> None:
        """Replace the drawing by an image (strokes drawn afterwards are added on top).

        Args:
            image: a grey image ``(H, W)`` of any size, uint8 0..255 or float 0..1, e.g. an
                MNIST test digit ``(28, 28)``; it is scaled to the canvas.
            ink: ``"light"`` if the ink is brighter than the paper (MNIST), ``"dark"`` if it
                is darker (a scan of pencil on paper).
        """
        background = fit_image(image, self.size, ink)
        self.strokes = []
        self.background = background
        self._paint()

    def image(self) -> np.ndarray:
        """The drawing as the gateway gets it: ``(size, size)`` uint8, 255 = ink."""
        raster = rasterise(self.strokes, self.size, self.line_width)
        if self.background is not None:
            raster = np.maximum(raster, self.background)
        return raster

    def _begin(self, x: float, y: float) -> None:
        self.strokes.append([(x, y)])
        self._drawing = True
        self.canvas.fill_circle(x, y, self.line_width / 2)

    def _extend(self, x: float, y: float) -> None:
        stroke = self.strokes[-1]
        (x0, y0) = stroke[-1]
        stroke.append((x, y))
        self.canvas.stroke_line(x0, y0, x, y)

    def _mouse_down(self, x: float, y: float) -> None:
        self._begin(x, y)

    def _mouse_move(self, x: float, y: float) -> None:
        if self._drawing:
            self._extend(x, y)

    def _mouse_up(self, x: float, y: float) -> None:
        self._drawing = False

    def _paint(self) -> None:
        """Redraw the canvas from the recorded picture (paper, any image, the strokes)."""
        c = self.canvas
        c.clear()
        c.fill_style = PAPER
        c.fill_rect(0, 0, self.size, self.size)
        if self.background is not None:
            c.put_image_data(np.repeat((255 - self.background)[..., None], 3, axis=-1), 0, 0)
        c.fill_style = INK
        c.stroke_style = INK
        c.line_width = self.line_width
        c.line_cap = "round"
        c.line_join = "round"
        for stroke in self.strokes:
            c.fill_circle(*stroke[0], self.line_width / 2)
            if len(stroke) > 1:
                c.stroke_lines(stroke)

    # -- predicting ----------------------------------------------------------------------

    def request(self) -> dict:
        """The JSON body Predict sends to ``POST /api/digits`` (without ``model`` when the
        gateway's default is selected)."""
        body = {"image": png_data_url(self.image()), "saliency": self.saliency}
        if self.model:
            body["model"] = self.model
        return body

    def predict(self) -> Prediction:
        """Send the drawing to the gateway, show the answer and return it.

        Raises:
            PadError: the gateway could not be reached or refused the drawing (for example
                an empty canvas); the same message is shown in the result area: the
                gateway's own sentence whenever the gateway answered.
        """
        self._show_error("")
        if not self.models:
            try:
                self.refresh_models()
            except PadError:
                pass  # the prediction below meets the same trouble and reports it
        self.summary_label.value = f"Asking {self.model or 'the default model'} ..."
        try:
            answer = self.client.digits(self.request())
        except PadError as e:
            self._show_answer(None)
            self._show_error(str(e))
            self.summary_label.value = ""
            if e.code == "invalid_request":  # perhaps a model no longer served
                try:
                    self.refresh_models()
                except PadError:
                    pass
            raise
        self._show_answer(answer)
        return answer

    def _predict_clicked(self, _button) -> None:
        self.predict_button.disabled = True
        try:
            self.predict()
        except PadError:
            pass  # already shown in the result area
        finally:
            self.predict_button.disabled = False

    # -- showing -------------------------------------------------------------------------

    def _show_error(self, message: str) -> None:
        self.error_box.value = (f'<span style="color:#b00020">{html.escape(message)}</span>'
                                if message else "")
        self.error_box.layout.display = None if message else "none"

    def _show_answer(self, answer: Prediction | None) -> None:
        self.answer = answer
        if answer is None:
            self.results.layout.display = "none"
            self.digit_label.value = ""
            return
        self.summary_label.value = (f"{100 * answer.confidence:.1f} % sure "
                                    f"(model {answer.model})")
        for d, (bar, label) in enumerate(zip(self.bars, self.bar_values, strict=True)):
            p = float(answer.probabilities[d])
            bar.value = p
            bar.bar_style = "success" if d == answer.digit else ""
            label.value = f"{100 * p:.1f} %"
        self.seen_image.value = png_bytes(gray_rgb(answer.input_image), 112)
        if answer.saliency is not None:
            self.saliency_image.value = png_bytes(hot_rgb(answer.saliency), 112)
        self.saliency_image.layout.display = None if answer.saliency is not None else "none"
        self.results.layout.display = None
        # The digit goes last: the front end applies updates in order, so whoever waits
        # for the digit to appear (a learner, a browser test) sees the whole answer.
        self.digit_label.value = str(answer.digit)

    def _guarded(self, handler):
        """Wrap a widget callback so that an exception is shown, not silently dropped
        (ipywidgets only logs exceptions raised in callbacks)."""

        def guarded(*args):
            try:
                handler(*args)
            except Exception as e:  # shown to the learner, and logged with the traceback
                log.exception("drawing pad callback failed")
                self._show_error(f"Something went wrong in the pad: {type(e).__name__}: {e}")

        return guarded

    def __repr__(self) -> str:
        strokes = len(self.strokes)
        return (f"DigitPad({self.url!r}, model={self.model!r}, {strokes} stroke"
                f"{'' if strokes == 1 else 's'}{', image' if self.background is not None else ''})")
