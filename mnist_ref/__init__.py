"""mnist-ref: the classic Keras MNIST model as a reproducible, measurable reference."""

__version__ = "0.1.0"
