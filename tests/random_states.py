"""Random, type-correct packed states: compiled code must be right in any state of the
variables' types, reachable or not (trace starts, counterexamples to induction)."""

from __future__ import annotations

from checker import types as T


def random_value(univ, t, rng):
    """A random packed value of type ``t`` (type-correct, unlike a random position)."""
    if isinstance(t, T.BoolT):
        return rng.random() < 0.5
    if isinstance(t, T.IntT):
        return rng.randint(t.lo, t.hi)
    if isinstance(t, (T.EnumT, T.SymT)):
        return rng.randrange(len(t.members))
    if isinstance(t, T.OptionT):
        return None if rng.random() < 0.3 else random_value(univ, t.inner, rng)
    if isinstance(t, T.RecordT):
        return tuple(random_value(univ, ft, rng) for _, ft in t.fields)
    if isinstance(t, T.VariantT):
        c = rng.randrange(len(t.cases))
        return (c, *(random_value(univ, ft, rng) for _, ft in t.cases[c].fields))
    lo = t.elem.lo - univ.int_base if isinstance(getattr(t, "elem", None), T.IntT) else 0
    if isinstance(t, T.SetT):
        p = rng.random()
        return sum(1 << i for i in range(lo, univ.bits(t.elem)) if rng.random() < p)
    if isinstance(t, T.BagT):
        p, w = rng.random(), univ.bag_width(t)
        return sum(rng.randint(1, t.capacity) << (i * w)
                   for i in range(lo, univ.bits(t.elem)) if rng.random() < p)
    if isinstance(t, T.MapT):
        return univ.map_build(t, [random_value(univ, t.value, rng)
                                  for _ in range(univ.size(t.key))])
    if isinstance(t, T.SeqT):
        return tuple(random_value(univ, t.elem, rng) for _ in range(rng.randint(0, t.capacity)))
    raise TypeError(t)


def random_state(compiled, rng) -> tuple:
    """A random state of a compiled spec: one value per declared variable, and the
    number of fault steps taken when the spec has a fault budget."""
    univ = compiled.universe
    state = tuple(random_value(univ, v.t, rng) for v in compiled.typed.variables)
    if compiled.max_faults is not None:
        state += (rng.randint(0, compiled.max_faults),)
    return state
