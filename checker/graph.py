"""The reachable state graph of a small spec, as Graphviz ``dot`` text or SVG.

Every reachable state is a node (its variables as the label), every transition an edge
labelled with its action. The first violation found breadth-first (an invariant false in
a state, a transition invariant false on a step, or a deadlock when checked) is
highlighted with the shortest path that leads to it, like the explicit engine's
counterexample. States where an invariant is false are drawn but not expanded (the
behaviour is already wrong there). Graphs above a size limit are refused with a
message: a picture of thousands of states is not readable, and the limit is easy to
raise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass, field

from .compile import CompiledSpec
from .explore import MODEL_ERRORS
from .model import Model, State, describe_error
from .output_file import OTHER_IMAGE_FORMATS
from .values import format_value

DEFAULT_MAX_STATES = 500


def without_lemmas(compiled: CompiledSpec) -> Model:
    """The model with the properties ``check`` checks by default: every invariant and
    transition invariant but the lemmas (proof helpers, checked only with ``--lemmas``).
    Drawing or exploring with the lemmas marked states where only a helper is false as
    violations (NoCrash in 2pc with faults) and stopped expanding them there."""
    model = compiled.model
    lemmas = {i.name for i in compiled.typed.invariants if i.lemma}
    if not lemmas:
        return model
    return model.select_invariants(
        [i.name for i in (*model.invariants, *model.transition_invariants)
         if i.name not in lemmas])


class GraphError(ValueError):
    """The graph cannot be drawn (the message says why and what to do)."""


class GraphTooLargeError(GraphError):
    pass


class GraphvizMissingError(GraphError):
    pass


@dataclass
class StateGraph:
    states: list[State]                              # in BFS order; index = node id
    edges: list[tuple[int, int, str]]                # (from, to, action label)
    initial: list[int]
    bad: dict[int, str]                              # node -> what is wrong there
    bad_edges: dict[tuple[int, int, str], str]       # transition invariant violations
    path: list[int]                                  # shortest path to the first violation
    variables: tuple[str, ...]
    # the action of each step of ``path`` (two actions that lead from one state to the
    # same next state were both drawn red, as if the path took both)
    path_labels: list[str] = field(default_factory=list)


def build_graph(model: Model, *, max_states: int = DEFAULT_MAX_STATES,
                check_deadlock: bool | None = None) -> StateGraph:
    """Explore ``model`` breadth-first, keeping every edge; raise ``GraphTooLargeError`` as soon
    as there are more than ``max_states`` distinct states."""
    if max_states < 1:
        raise GraphError(f"--max-states must be at least 1, not {max_states}")
    deadlock = model.check_deadlock if check_deadlock is None else check_deadlock
    ids: dict[State, int] = {}
    states: list[State] = []
    parent: dict[int, int | None] = {}
    via: dict[int, str] = {}                   # the action of the step that found a node
    edges: list[tuple[int, int, str]] = []
    bad: dict[int, str] = {}
    bad_edges: dict[tuple[int, int, str], str] = {}
    # the first violation: (node, None, "") or an edge (from, to, action)
    first: list[tuple[int, int | None, str]] = []

    def too_large() -> GraphTooLargeError:
        return GraphTooLargeError(
            f"the reachable state graph of {model.name} has more than {max_states} "
            f"state{'s' if max_states != 1 else ''}, "
            "too many to draw readably; raise the limit with --max-states "
            f"(e.g. --max-states {max_states * 4}) or make the model smaller with --const")

    def add(s: State, par: int | None, label: str = "") -> int:
        if s in ids:
            return ids[s]
        if len(states) >= max_states:
            raise too_large()
        i = len(states)
        ids[s] = i
        states.append(s)
        parent[i] = par
        via[i] = label
        for inv in model.invariants:
            try:
                ok = inv.holds(s)
            except MODEL_ERRORS as err:
                bad[i] = f"error evaluating {inv.name}: {describe_error(err)}"
                break
            if not ok:
                bad[i] = f"{inv.name} is false"
                break
        if i in bad and not first:
            first.append((i, None, ""))
        return i

    try:
        inits = model.initial_states()
    except MODEL_ERRORS as err:
        raise GraphError(f"the initial states cannot be computed: {err}") from None
    initial = [add(s, None) for s in inits]
    queue = deque(dict.fromkeys(initial))
    while queue:
        i = queue.popleft()
        s = states[i]
        if i in bad:
            continue   # a violating state ends its behaviours: not expanded
        try:
            steps = model.steps(s)
        except MODEL_ERRORS as err:
            diag = model.diagnose(s) if model.diagnose else None
            bad[i] = f"error: {diag.message if diag else err}"
            if not first:
                first.append((i, None, ""))
            continue
        if not steps and deadlock and i not in bad:
            bad[i] = "deadlock"
            if not first:
                first.append((i, None, ""))
        for st in steps:
            new = st.state not in ids
            j = add(st.state, i, st.label)
            edges.append((i, j, st.label))
            for tinv in model.transition_invariants:
                try:
                    why = None if tinv.holds(s, st.state) else f"{tinv.name} is false"
                except MODEL_ERRORS as err:    # (as check: the step is the error's)
                    why = f"error evaluating {tinv.name}: {describe_error(err)}"
                if why is not None:
                    bad_edges[(i, j, st.label)] = why
                    if not first:
                        first.append((i, j, st.label))
                    break
            if new:
                queue.append(j)
    path: list[int] = []
    end: int | None = first[0][0] if first else None
    while end is not None:
        path.append(end)
        end = parent[end]
    path.reverse()
    labels = [via[k] for k in path[1:]]
    if first and first[0][1] is not None:
        path.append(first[0][1])
        labels.append(first[0][2])
    return StateGraph(states, edges, initial, bad, bad_edges, path, model.variables, labels)


def check_output_name(path: str, fmt: str) -> None:
    """Refuse an output name that promises another format than the one written (``-o
    graph.svg`` without ``--format svg`` wrote dot text into graph.svg, exit status 0)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".svg" and fmt != "svg":
        raise GraphError(f"{path} names an SVG file, but --format is {fmt}: add --format svg "
                         "(or name the file .dot)")
    if suffix in (".dot", ".gv") and fmt != "dot":
        raise GraphError(f"{path} names a Graphviz dot file, but --format is {fmt}: name it "
                         ".svg, or use --format dot")
    if suffix in OTHER_IMAGE_FORMATS:
        raise GraphError(f"{path}: the graph is written as Graphviz dot text (--format dot) "
                         f"or SVG (--format svg), not {suffix[1:]}; for {suffix[1:]}, write "
                         f"dot and run Graphviz: dot -T{suffix[1:]} FILE.dot -o {path}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\l") + '"'


def to_dot(g: StateGraph, model: Model, *, name: str | None = None) -> str:
    """The graph as Graphviz dot text (deterministic: nodes in BFS order)."""
    on_path = set(zip(g.path, g.path[1:], g.path_labels))
    lines = [
        f"digraph {_quote(name or model.name)} {{",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=10, '
        f"label={_quote((name or model.name) + ': ' + _summary(g))}, labelloc=t];",
        '  node [shape=box, style="rounded,filled", fillcolor="#f4f6fa", color="#8899aa", '
        'fontname="Courier", fontsize=9];',
        '  edge [fontname="Helvetica", fontsize=8, color="#667788"];',
        '  start [shape=point, width=0.1, color="#333333"];',
    ]
    for i, s in enumerate(g.states):
        decoded = model.decode(s)
        text = "".join(f"{k} = {format_value(v)}\n" for k, v in decoded.items())
        if len(s) > len(model.variables):
            # the fault budget's hidden counter: without it, states that differ only in
            # the faults taken so far were drawn with the same label
            text += f"(fault steps taken = {s[len(model.variables)]})\n"
        attrs = [f"label={_quote(f'#{i + 1}' + chr(10) + text)}"]
        if i in g.bad:
            attrs.append('fillcolor="#fde2e0", color="#c0392b", penwidth=2')
            attrs.append(f"xlabel={_quote(g.bad[i])}, fontcolor=\"#9b1c13\"")
        elif i in g.path:
            attrs.append('fillcolor="#fff4c2", color="#c0392b", penwidth=2')
        lines.append(f"  s{i} [{', '.join(attrs)}];")
    for i in g.initial:
        style = ' [color="#c0392b", penwidth=2]' if g.path and g.path[0] == i else ""
        lines.append(f"  start -> s{i}{style};")
    for (a, b, label) in g.edges:
        attrs = [f"label={_quote(label)}"]
        if (a, b, label) in on_path:
            attrs.append('color="#c0392b", fontcolor="#c0392b", penwidth=2.5')
        if (a, b, label) in g.bad_edges:
            attrs.append(f'style=dashed, color="#c0392b", '
                         f"xlabel={_quote(g.bad_edges[(a, b, label)])}")
        lines.append(f"  s{a} -> s{b} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _summary(g: StateGraph) -> str:
    n = len(g.states)
    m = len(g.edges)
    text = f"{n} state{'s' if n != 1 else ''}, {m} transition{'s' if m != 1 else ''}"
    if g.bad or g.bad_edges:
        text += "; the shortest path to a violation is highlighted"
    return text


def dot_to_svg(dot: str, *, timeout: float = 60.0) -> str:
    """Run Graphviz's ``dot`` on the text; a clear error when it is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissingError("SVG output needs Graphviz's `dot` program, which is not "
                              "installed (e.g. apt-get install graphviz, brew install "
                              "graphviz); or use --format dot and render it elsewhere")
    try:
        done = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphError(f"Graphviz took longer than {timeout:g}s to lay out the graph; "
                         "use --format dot, or a smaller model") from None
    if done.returncode != 0:
        raise GraphError(f"Graphviz failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def state_graph(compiled: CompiledSpec | Model, *, max_states: int = DEFAULT_MAX_STATES,
                fmt: str = "dot", check_deadlock: bool | None = None) -> str:
    """The reachable state graph as ``dot`` text or ``svg``; raises ``GraphTooLargeError``
    (a ValueError) above ``max_states`` states, ``GraphvizMissingError`` for svg without
    Graphviz, ``GraphError`` for an unknown format."""
    if fmt not in ("dot", "svg"):
        raise GraphError(f"unknown graph format {fmt!r} (choose dot or svg)")
    model = without_lemmas(compiled) if isinstance(compiled, CompiledSpec) else compiled
    if fmt == "svg" and shutil.which("dot") is None:
        dot_to_svg("")  # raises GraphvizMissingError before any exploring
    g = build_graph(model, max_states=max_states, check_deadlock=check_deadlock)
    dot = to_dot(g, model)
    return dot if fmt == "dot" else dot_to_svg(dot)
