"""The models room: the trained networks and heads as the server runs them, with their cards.

``mfcc_cnn`` (the design card's CNN and the card that names the genres and feature settings),
``musicnn`` (the pretrained network with its heads), ``heads`` (the linear genre and style heads),
``student`` (the distilled CNN), ``electronic`` (styles and the guide's nearest genres). It imports no
other room of ``genrelens``.
"""
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models"
