"""The Z3 engines: bounded model checking and inductive proofs.

The only part of the project that imports z3. ``bmc`` and ``prove`` return the same
``Result`` as every engine; ``prove_report`` gives the prover's full table (rendered by
``checker.render.proof``).
"""

from __future__ import annotations

from .bmc import bmc
from .common import SymbolicMismatchError
from .prove import INIT, Obligation, ProofReport, SanityCheck, prove, prove_report
from .sv import EncodingError

__all__ = ["INIT", "EncodingError", "Obligation", "ProofReport", "SanityCheck",
           "SymbolicMismatchError", "bmc", "prove", "prove_report"]
