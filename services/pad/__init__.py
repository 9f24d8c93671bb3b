"""The drawing pad: draw a digit in JupyterLab and ask the served stack what it is.

::

    from services.pad import DigitPad
    from services.stack import Stack

    stack = Stack().start()
    pad = DigitPad(stack.url)       # any gateway: the local stack, or http://simpledl.test/
    pad                             # draw with the mouse, choose a model, press Predict
    pad.model = "my-mlp"            # any digit model the gateway serves (GET /api/models)

Predict sends the drawing to the gateway's ``POST /api/digits`` as a PNG — the same
request the web page makes — so the answer comes from the served models, not from a
model in this kernel. Three modules, one job each:

- :mod:`services.pad.raster` — strokes (and images) become the picture that is sent,
  answers become pictures to show (NumPy and Pillow only);
- :mod:`services.pad.client` — the HTTP client of the gateway: a :class:`Prediction` or
  a :class:`PadError` whose message is shown as it is (knows nothing about widgets);
- :mod:`services.pad.widget` — :class:`DigitPad`, the ipywidgets/ipycanvas widget that
  records strokes, uses the other two and shows the answer.

Where the pixels come from: the pad records every stroke in Python (in the mouse
callbacks), mirrors it onto the canvas, and rasterises the strokes itself. The browser's
own pixels (``Canvas.get_image_data``) arrive late and never without a browser; the
recorded strokes are always there, so the same pad can be driven from code with no
browser at all::

    pad.draw_strokes([[(140, 40), (140, 240)]])     # a "1", in canvas pixels
    pad.set_image(test_digit)                       # or a whole image, e.g. MNIST 28x28
    answer = pad.predict()                          # a Prediction: digit, probabilities, ...

Errors (gateway unreachable, an empty drawing, the worker down) appear in the result
area in plain words; :meth:`DigitPad.predict` also raises them as :class:`PadError`.
Whenever the gateway answered, the words are its own (the ``message`` of its error
answer, worded once in ``services/gateway/errors.py`` for the pad and the web page
alike); the client words only what cannot come from the gateway.

Deliberately left out: touch input (the web page has it), undo, and any preprocessing —
the worker brings every drawing to the MNIST convention (``dlcore.digits``), whoever sent
it. This package does not import ``dlcore``.
"""

from services.pad.client import GatewayClient, ModelInfo, PadError, Prediction
from services.pad.raster import SIZE, SUPERSAMPLE, png_data_url, rasterise
from services.pad.widget import DigitPad

__all__ = [
    "SIZE",
    "SUPERSAMPLE",
    "DigitPad",
    "GatewayClient",
    "ModelInfo",
    "PadError",
    "Prediction",
    "png_data_url",
    "rasterise",
]
