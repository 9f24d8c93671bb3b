"""dlcore — the NumPy deep-learning core of the simpledl course.

Dense layers follow the course's equations with examples as columns
(``X: (n_x, m)``); convolutional layers take images as ``(m, C, H, W)``.
The data layer lives in :mod:`dlcore.data`.
"""

__version__ = "0.1.0"
