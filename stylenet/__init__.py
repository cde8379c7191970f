"""StyleNet: predict how a pianist of a given genre would play a flat-velocity score (Malik & Ek, 2017)."""

__version__ = "0.1.0"
