"""Fault kinds and the `--faults` selection.

A fault action may name its kind (`fault(crash) action ...`), so a user asks for
`--faults crash,loss` without knowing the spec's action names. Asking for a kind the
spec does not model is not an error (the spec's network may already cover it, as a set
of messages covers duplication); it is reported in the run's header instead. A word that
is neither a kind nor one of the spec's fault actions is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ir

# The fault models of the issue that introduced them, in the order users list them.
FAULT_KINDS = ("crash", "restart", "loss", "duplication", "reordering", "partition", "heal")


class FaultSelectionError(ValueError):
    pass


@dataclass(frozen=True)
class FaultSelection:
    actions: tuple[str, ...]          # the fault actions switched on, in spec order
    unmodelled: tuple[str, ...] = ()  # kinds asked for that no fault action of the spec has


def spec_faults(typed: ir.TypedSpec) -> list[ir.Action]:
    return [a for a in typed.actions if a.fault]


def describe_faults(typed: ir.TypedSpec) -> str:
    """The spec's faults as `--faults` accepts them, for error messages and help."""
    parts = [a.name + (f" ({a.fault_kind})" if a.fault_kind else "") for a in spec_faults(typed)]
    return ", ".join(parts) if parts else "none"


def select_faults(typed: ir.TypedSpec, requested: tuple[str, ...]) -> FaultSelection:
    """Which fault actions to switch on: by name, by kind, or ``all``."""
    faults = spec_faults(typed)
    words = [w for w in requested if w]
    if "all" in words:
        return FaultSelection(tuple(a.name for a in faults))
    names = {a.name for a in faults}
    kinds = {a.fault_kind for a in faults if a.fault_kind}
    unknown = [w for w in words if w not in names and w not in FAULT_KINDS]
    if unknown:
        raise FaultSelectionError(
            f"unknown fault {', '.join(unknown)} (this spec's faults: {describe_faults(typed)}; "
            f"kinds: {', '.join(FAULT_KINDS)}; or all)")
    chosen = tuple(a.name for a in faults if a.name in words or a.fault_kind in words)
    unmodelled = tuple(w for w in dict.fromkeys(words) if w in FAULT_KINDS and w not in kinds
                       and w not in names)
    return FaultSelection(chosen, unmodelled)


def describe_switched_on(typed: ir.TypedSpec, names: tuple[str, ...]) -> str:
    """``crash: A, B; loss: C`` (actions without a kind by name alone), for run headers."""
    groups: dict[str | None, list[str]] = {}
    for a in spec_faults(typed):
        if a.name in names:
            groups.setdefault(a.fault_kind, []).append(a.name)
    parts = [f"{kind}: {', '.join(group)}" for kind, group in groups.items() if kind]
    return "; ".join(parts + [", ".join(groups[None])] if None in groups else parts)
