"""Fault kinds and the `--faults` selection.

A fault action may name its kind (`fault(crash) action ...`), so a user asks for
`--faults crash,loss` without knowing the spec's action names. Asking for a kind the
spec does not model is not an error (the spec's network may already cover it, as a set
of messages covers duplication); it is reported in the run's header instead. A word that
is neither a kind nor one of the spec's fault actions is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """Which fault actions to switch on: by name, by kind, or ``all``.

    Every word is checked, ``all`` included: ``--faults all,crsh`` is as much an error as
    ``--faults crsh``. A kind that no fault action of the spec has is reported as not
    modelled (with ``all``, on a spec that has no fault action, every kind is)."""
    faults = spec_faults(typed)
    words = list(dict.fromkeys(w for w in requested if w))
    names = {a.name for a in faults}
    kinds = {a.fault_kind for a in faults if a.fault_kind}
    unknown = [w for w in words if w != "all" and w not in names and w not in FAULT_KINDS]
    if unknown:
        raise FaultSelectionError(_unknown_message(typed, unknown))
    if "all" in words:
        chosen = tuple(a.name for a in faults)
        asked = FAULT_KINDS if not faults else tuple(w for w in words if w in FAULT_KINDS)
    else:
        chosen = tuple(a.name for a in faults if a.name in words or a.fault_kind in words)
        asked = tuple(w for w in words if w in FAULT_KINDS)
    unmodelled = tuple(k for k in asked if k not in kinds and k not in names)
    return FaultSelection(chosen, unmodelled)


def _unknown_message(typed: ir.TypedSpec, unknown: list[str]) -> str:
    """Says what each unknown word is near: a non-fault action of the spec, or a kind or
    a fault action's name written in another case."""
    faults = spec_faults(typed)
    by_lower = {k: k for k in FAULT_KINDS} | {a.name.lower(): a.name for a in faults}
    plain = {a.name for a in typed.actions if not a.fault}
    notes = []
    for w in unknown:
        if w in plain:
            notes.append(f"{w} is an action of this spec but not a fault action "
                         "(only actions declared `fault` can be switched on)")
        elif w.lower() in by_lower:
            notes.append(f"did you mean {by_lower[w.lower()]}? (names and kinds are "
                         "case-sensitive)")
    return (f"unknown fault {', '.join(unknown)} (this spec's faults: {describe_faults(typed)}; "
            f"kinds: {', '.join(FAULT_KINDS)}; or all)" + "".join(f"; {n}" for n in notes))


def describe_switched_on(typed: ir.TypedSpec, names: tuple[str, ...]) -> str:
    """``crash: A, B; loss: C`` (actions without a kind by name alone), for run headers."""
    groups: dict[str | None, list[str]] = {}
    for a in spec_faults(typed):
        if a.name in names:
            groups.setdefault(a.fault_kind, []).append(a.name)
    parts = [f"{kind}: {', '.join(group)}" for kind, group in groups.items() if kind]
    return "; ".join(parts + [", ".join(groups[None])] if None in groups else parts)


def restart_without_crash(typed: ir.TypedSpec, chosen: Sequence[str]) -> list[str]:
    """A note when restart faults are on and none of the spec's crash faults is: nothing
    goes down then (unless a node starts down), so the restarts never fire."""
    on = [a for a in spec_faults(typed) if a.name in chosen]
    off = [a for a in spec_faults(typed) if a.name not in chosen]
    if any(a.fault_kind == "restart" for a in on) and \
            not any(a.fault_kind == "crash" for a in on) and \
            any(a.fault_kind == "crash" for a in off):
        return ["restart is on but no crash fault is: a restart fires only for a node that "
                "is down (--faults crash,restart)"]
    return []
