"""modelcheck: a model checker and trace validator for distributed protocols."""

__version__ = "0.1.0"
