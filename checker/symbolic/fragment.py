"""The decidable-fragment check: is a query's quantifier alternation stratified?

A query whose formulas, after skolemization, only create functions from a sort to a sort
"further down" (no cycle in the graph below) has a finite Herbrand universe: it is in
the effectively-propositional fragment (EPR and its stratified extension), which Z3
decides. The graph has an edge A -> B when an existential of sort B is in the scope of a
universal of sort A (in the formula as asserted, so a ``forall`` under a negation is an
existential); a cycle means Z3 may instantiate quantifiers forever, answer ``unknown``,
or time out. Quantifiers over integers are outside EPR: they are reported as a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import z3


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str  # which formula: "invariant P2aSafe (pre-state)", "the quorum axiom", ...


@dataclass(frozen=True)
class FragmentReport:
    """What the check found over every query of a proof."""

    edges: tuple[Edge, ...]               # every alternation edge, deduplicated
    cycles: tuple[tuple[Edge, ...], ...]  # one explanation per distinct cycle
    int_quantifiers: tuple[str, ...]      # formulas with quantifiers over Int
    queries: int                          # how many queries were checked
    cyclic_queries: int                   # how many of them have a cycle

    @property
    def decidable(self) -> bool:
        return not self.cycles and not self.int_quantifiers

    def lines(self) -> list[str]:
        """The check in plain words."""
        order = _order(self.edges)
        out = []
        if not self.cycles:
            edges = ", ".join(sorted({f"{e.src} -> {e.dst}" for e in self.edges}))
            why = (f"quantifier alternations {edges}, no cycle; order: {' -> '.join(order)}"
                   if edges else "no quantifier alternation between sorts")
            out.append(f"Decidable fragment: all {self.queries} queries are stratified "
                       f"({why}): each is in EPR, where Z3's search is complete (it can still "
                       "take longer than a timeout).")
        else:
            out.append(f"Outside the decidable fragment: in {self.cyclic_queries} of "
                       f"{self.queries} queries the quantifier alternations form a cycle.")
            for cyc in self.cycles:
                ring = " -> ".join([cyc[0].src] + [e.dst for e in cyc])
                out.append(f"  cycle {ring}:")
                for e in cyc:
                    out.append(f"    {e.where}: an `exists` over {e.dst} inside a `forall` "
                               f"over {e.src} (edge {e.src} -> {e.dst})")
            out.append("  Z3 may answer unknown or keep instantiating quantifiers; each query "
                       "still runs, with the solver timeout (unknown: inconclusive, never "
                       "proved).")
        if self.int_quantifiers:
            out.append("  Note: quantifiers over integers are outside EPR (in "
                       + ", ".join(self.int_quantifiers) + ").")
        return out


def edges_of(formula, where: str) -> tuple[list[Edge], bool]:
    """The alternation edges of one asserted formula, and whether it quantifies over
    integers."""
    edges: dict[tuple[str, str], Edge] = {}
    ints = False
    seen: set[tuple[int, int, tuple[str, ...]]] = set()

    def walk(e, pol: int, ctx: tuple[str, ...]) -> None:
        nonlocal ints
        if not isinstance(e, z3.BoolRef) and not z3.is_quantifier(e):
            return
        key = (e.get_id(), pol, ctx)
        if key in seen:
            return
        seen.add(key)
        if z3.is_quantifier(e):
            sorts = [e.var_sort(i) for i in range(e.num_vars())]
            names = tuple(str(s) for s in sorts)
            if any(s.kind() in (z3.Z3_INT_SORT, z3.Z3_REAL_SORT) for s in sorts):
                ints = True
            universal = (e.is_forall() and pol >= 0) or (e.is_exists() and pol <= 0)
            existential = (e.is_exists() and pol >= 0) or (e.is_forall() and pol <= 0)
            if existential:
                for a in ctx:
                    for b in names:
                        edges.setdefault((a, b), Edge(a, b, where))
            inner = ctx + tuple(n for n in names if n not in ctx) if universal else ctx
            walk(e.body(), pol, inner)
            return
        if z3.is_not(e):
            walk(e.arg(0), -pol, ctx)
        elif z3.is_and(e) or z3.is_or(e):
            for c in e.children():
                walk(c, pol, ctx)
        elif z3.is_implies(e):
            walk(e.arg(0), -pol, ctx)
            walk(e.arg(1), pol, ctx)
        elif z3.is_app_of(e, z3.Z3_OP_ITE):
            walk(e.arg(0), 0, ctx)
            walk(e.arg(1), pol, ctx)
            walk(e.arg(2), pol, ctx)
        elif z3.is_eq(e) or z3.is_app_of(e, z3.Z3_OP_DISTINCT) or z3.is_app_of(e, z3.Z3_OP_XOR):
            for c in e.children():
                walk(c, 0, ctx)

    walk(formula, 1, ())
    return list(edges.values()), ints


def function_edges(decls: Iterable, uninterpreted: set[str]) -> list[Edge]:
    """Edges of the state's own functions from a sort to a sort (``map[A, B]``)."""
    out = []
    for name, d in decls:
        if not isinstance(d, z3.FuncDeclRef) or d.arity() == 0:
            continue
        rng = str(d.range())
        if rng not in uninterpreted:
            continue
        for i in range(d.arity()):
            src = str(d.domain(i))
            if src in uninterpreted:
                out.append(Edge(src, rng, f"the state function {name}"))
    return out


def find_cycle(edges: Sequence[Edge]) -> tuple[Edge, ...] | None:
    """One cycle of the graph, as its edges, or None."""
    graph: dict[str, list[Edge]] = {}
    for e in edges:
        graph.setdefault(e.src, []).append(e)
    color: dict[str, int] = {}
    stack: list[Edge] = []

    def dfs(n: str) -> tuple[Edge, ...] | None:
        color[n] = 1
        for e in graph.get(n, []):
            if color.get(e.dst) == 1:
                start = next((i for i, s in enumerate(stack) if s.src == e.dst), len(stack))
                return tuple(stack[start:]) + (e,)
            if color.get(e.dst) is None:
                stack.append(e)
                found = dfs(e.dst)
                stack.pop()
                if found:
                    return found
        color[n] = 2
        return None

    for n in list(graph):
        if color.get(n) is None:
            found = dfs(n)
            if found:
                return found
    return None


class FragmentCheck:
    """Accumulates the check over the queries of a proof (edges of each formula are
    computed once)."""

    def __init__(self, base_edges: Sequence[Edge] = ()):
        self.base = list(base_edges)
        self._cache: dict[str, tuple[list[Edge], bool, object]] = {}  # by label and formula id
        self.all_edges: dict[tuple[str, str, str], Edge] = {(e.src, e.dst, e.where): e
                                                            for e in base_edges}
        self.cycles: dict[frozenset, tuple[Edge, ...]] = {}
        self.ints: dict[str, None] = {}
        self.queries = 0
        self.cyclic = 0

    def formula(self, where: str, f) -> list[Edge]:
        key = f"{where}#{f.get_id()}" if isinstance(f, z3.ExprRef) else where
        if key not in self._cache:
            edges, ints = edges_of(f, where) if isinstance(f, z3.ExprRef) else ([], False)
            self._cache[key] = (edges, ints, f)  # f kept alive: its id stays its own
        edges, ints, _ = self._cache[key]
        if ints:
            self.ints[where] = None
        return edges

    def query(self, parts: Sequence[tuple[str, object]]) -> tuple[Edge, ...] | None:
        """Check one query (its labelled formulas); returns a cycle, if any."""
        edges = list(self.base)
        for where, f in parts:
            edges.extend(self.formula(where, f))
        for e in edges:
            self.all_edges.setdefault((e.src, e.dst, e.where), e)
        self.queries += 1
        cyc = find_cycle(edges)
        if cyc:
            self.cyclic += 1
            self.cycles.setdefault(frozenset((e.src, e.dst) for e in cyc), cyc)
        return cyc

    def report(self) -> FragmentReport:
        return FragmentReport(tuple(self.all_edges.values()), tuple(self.cycles.values()),
                              tuple(self.ints), self.queries, self.cyclic)


def _order(edges: Sequence[Edge]) -> list[str]:
    """The sorts in an order compatible with the edges (for the stratified message)."""
    nodes = list(dict.fromkeys([e.src for e in edges] + [e.dst for e in edges]))
    out: list[str] = []
    remaining = set(nodes)
    while remaining:
        free = [n for n in nodes if n in remaining and not any(
            e.dst == n and e.src in remaining and e.src != n for e in edges)]
        if not free:
            break
        out.append(free[0])
        remaining.discard(free[0])
    return out
