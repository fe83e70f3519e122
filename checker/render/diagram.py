"""A counterexample as a message sequence diagram (SVG): one lifeline per node, an arrow
for each message from the step that sent it to each step that received it, local steps
and faults marked on the lifelines.

What is a node and what is a message comes from the spec's types (no declaration is
needed for the usual shapes; see ``docs/cli.md``, "Sequence diagrams", for the rules
and their limits):

* **Nodes** are the values of the types that actions are parameterised by: symbol sets
  (``RM``, ``Acceptors``) and integer ranges. When several such types exist, the ones
  named in ``symmetry`` win, then those used as ``src``/``dst``-like message fields, then
  those that key state maps (``map[Acceptors, ...]``), then those that message
  fields carry most. Actions whose names start with a shared acronym that is not a node
  type (``TMCommit``, ``TMAbort``, ``TMRcvPrepared``) get one lifeline of their own
  (``TM``), and so do actions sharing a first word none of which has a node parameter
  (``ServerGrant``, ``ServerRelease``: ``Server``); actions that belong to no node share
  an ``env`` lifeline. With no such type at all, there is one lifeline per action
  parameter type.
* **Messages** are the elements of state variables that hold sets, bags or sequences of
  ``Message`` (also such collections inside a map). A message that appears in a step is
  sent by that step's node (or by its ``src``-like field); a message that is an action
  argument (``m in msgs``), is tested with ``require X in msgs``, or disappears in a
  step, is received by that step's node (or its ``dst``-like field). A
  message that a fault step removes is drawn as lost; a copy a fault step makes of a
  message in flight (duplication) is the same message: each receipt is drawn from the
  step that sent it. Actions that share a first word but take a message with a
  ``dst``-like field (``HandleRequestVote(m)``, ``HandleAppend(m)``) are no role: each
  step belongs to the message's ``dst``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from .. import ir
from .. import types as T
from ..compile import CompiledSpec
from ..result import TraceStep
from ..values import BagValue, MapValue, RecordValue, SeqValue, SetValue, Value, format_value

SRC_FIELDS = ("src", "from", "sender", "source", "frm")
DST_FIELDS = ("dst", "to", "receiver", "dest", "destination", "target")
ENV = "env"


@dataclass
class Lifeline:
    key: str
    label: str
    kind: str  # "node" | "role" | "env" | "type"


@dataclass
class Event:
    step: int            # index into the trace (0: the initial state)
    lifeline: str
    kind: str            # "local" | "fault" | "step"
    label: str


@dataclass
class Arrow:
    label: str
    src: str
    src_step: int
    dst: str | None      # None: sent and never received in the trace
    dst_step: int | None
    lost: bool = False


@dataclass
class SequenceDiagram:
    lifelines: list[Lifeline]
    steps: list[str]                     # the label of each trace step
    events: list[Event] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    last_note: str | None = None         # e.g. "Consistent is false here"


# ---------------------------------------------------------------------- the analysis
def _acronym(name: str) -> str | None:
    m = re.match(r"[A-Z]{2,}(?=[A-Z][a-z]|[0-9_]|$)", name)
    return m.group(0) if m else None


def _first_word(name: str) -> str | None:
    m = re.match(r"[A-Z][a-z]+(?=[A-Z0-9_]|$)", name)
    return m.group(0) if m and m.group(0) != name else None


def _names_type(word: str, names: set[str]) -> bool:
    w = word.lower()
    return any(n.lower() in (w, w + "s", w + "es") for n in names)


def _is_node_candidate(t: T.Type) -> bool:
    return isinstance(t, (T.SymT, T.IntT))


def _type_label(t: T.Type) -> str:
    return t.name if isinstance(t, (T.SymT, T.EnumT)) else t.show()


def _message_fields(typed: ir.TypedSpec) -> list[tuple[str, T.Type]]:
    mt = typed.message_type
    if not isinstance(mt, T.VariantT):
        return []
    return [f for c in mt.cases for f in c.fields]


def node_types(typed: ir.TypedSpec) -> tuple[list[T.Type], str]:
    """The types whose values are the diagram's nodes, and how they were chosen."""
    params: list[T.Type] = []
    for a in typed.actions:
        for b in a.params:
            if _is_node_candidate(b.local.t) and b.local.t not in params:
                params.append(b.local.t)
    if not params:
        return [], "no action has a parameter that names a node"
    sym = [t for t in params if isinstance(t, T.SymT) and t.name in typed.symmetry]
    if sym:
        return sym, "the symmetric sets (" + ", ".join(t.name for t in sym) + ")"
    fields = _message_fields(typed)
    addressed = [t for t in params
                 if any(n in SRC_FIELDS + DST_FIELDS and ft == t for n, ft in fields)]
    if addressed:
        return addressed, "the types of the messages' src/dst fields"
    keys = Counter(v.t.key for v in typed.variables if isinstance(v.t, T.MapT))
    chosen = [t for t in params if keys.get(t, 0) > 0]
    if chosen:
        # Every such type, not only the one keying the most maps: proposers and
        # acceptors are both nodes, however many maps each has.
        return chosen, "the action parameter types that key state maps (" + \
            ", ".join(_type_label(t) for t in chosen) + ")"
    carried = Counter(ft for _, ft in fields if ft in params)
    if carried:
        most = max(carried.values())
        chosen = [t for t in params if carried.get(t) == most]
        return chosen, "the action parameter types that messages carry most (" + \
            ", ".join(_type_label(t) for t in chosen) + ")"
    return [], "no action parameter type keys a state map or is carried by a message"


def _collection_elems(t: T.Type, mt: T.Type | None) -> bool:
    return isinstance(t, (T.SetT, T.BagT, T.SeqT)) and t.elem == mt and mt is not None


def _messages_in(t: T.Type, v: Value, mt: T.Type) -> Counter:
    """The messages held by a variable's value (a multiset), for collections of
    messages and maps of them."""
    out: Counter = Counter()
    if _collection_elems(t, mt):
        if isinstance(v, SetValue) or isinstance(v, SeqValue):
            out.update(v.items)
        elif isinstance(v, BagValue):
            for x, n in v.items:
                out[x] += n
    elif isinstance(t, T.MapT) and isinstance(v, MapValue):
        for _, x in v.pairs:
            out.update(_messages_in(t.value, x, mt))
    return out


def _field(m: Value, names: Sequence[str]) -> Value | None:
    if isinstance(m, RecordValue):
        for k, x in m.fields:
            if k in names:
                return x
    return None


class _Analysis:
    def __init__(self, compiled: CompiledSpec, trace: Sequence[TraceStep]):
        self.compiled = compiled
        self.typed = compiled.typed
        self.trace = trace
        self.actions = {a.name: a for a in self.typed.actions}
        self.types, self.why_nodes = node_types(self.typed)
        self.fallback = not self.types
        self.mt = self.typed.message_type
        self.msg_vars = [v for v in self.typed.variables
                         if self.mt is not None and (_collection_elems(v.t, self.mt) or (
                             isinstance(v.t, T.MapT) and _collection_elems(v.t.value,
                                                                           self.mt)))]
        # Roles: an acronym (TMCommit, TMAbort) shared by two or more actions that is not
        # a node type; or a first word (ServerGrant, ServerRelease) shared by two or more
        # actions none of which has a node parameter.
        names = {_type_label(t) for t in self.types}
        acr = Counter(_acronym(a.name) for a in self.typed.actions)
        self.roles = {a.name: _acronym(a.name) for a in self.typed.actions
                      if _acronym(a.name) and acr[_acronym(a.name)] >= 2
                      and _acronym(a.name) not in names}
        words: dict[str, list[ir.Action]] = {}
        for a in self.typed.actions:
            w = _first_word(a.name)
            if w is not None and a.name not in self.roles:
                words.setdefault(w, []).append(a)
        for w, acts in words.items():
            # (HandleRequestVote(m), HandleAppend(m): each step is the node the message
            # is addressed to, not a "Handle" role.)
            acts = [a for a in acts if not self._takes_addressed(a)]
            if len(acts) >= 2 and not any(b.local.t in self.types for a in acts
                                          for b in a.params) and not _names_type(w, names):
                for a in acts:
                    self.roles[a.name] = w
        self.lifelines: dict[str, Lifeline] = {}
        self.evaluator = None

    def _takes_addressed(self, a: ir.Action) -> bool:
        """Whether ``a`` takes a message of a kind that has a dst-like node field."""
        mt = self.mt
        if not isinstance(mt, T.VariantT) or not any(b.local.t == mt for b in a.params):
            return False
        return any(name in DST_FIELDS and ft in self.types
                   for c in mt.cases for name, ft in c.fields)

    # ---- lifelines
    def _node_key(self, t: T.Type, v: Value) -> str:
        text = format_value(v)
        return text if isinstance(t, T.SymT) or len(self.types) == 1 \
            else f"{_type_label(t)} {text}"

    def _ensure(self, key: str, label: str, kind: str) -> str:
        if key not in self.lifelines:
            self.lifelines[key] = Lifeline(key, label, kind)
        return key

    def node_lifelines(self) -> None:
        for r in dict.fromkeys(self.roles.values()):
            self._ensure(r, r, "role")
        for t in self.types:
            if isinstance(t, T.SymT):
                for m in t.members:
                    self._ensure(m, m, "node")
            elif isinstance(t, T.IntT):
                for i in range(t.lo, t.hi + 1):
                    self._ensure(self._node_key(t, i), self._node_key(t, i), "node")

    def actor(self, step: TraceStep) -> str:
        a = self.actions.get(step.action or "")
        if a is None:
            return self._ensure(ENV, ENV, "env")
        if self.fallback:
            for b in a.params:
                t = b.local.t
                if t != self.mt:
                    return self._ensure(f"type {_type_label(t)}", _type_label(t), "type")
            return self._ensure(ENV, ENV, "env")
        pairs = list(zip(a.params, step.args))
        acr = _acronym(a.name)
        if acr is not None:
            for b, x in pairs:
                if isinstance(b.local.t, T.SymT) and b.local.t.name == acr:
                    return self._node_key(b.local.t, x)
        if a.name in self.roles:
            return self.roles[a.name]
        for b, x in pairs:
            if b.local.t in self.types:
                return self._node_key(b.local.t, x)
        for b, x in pairs:
            if b.local.t == self.mt:
                dst = self._addressed(x, DST_FIELDS) or self._addressed(x, None)
                if dst is not None:
                    return dst
        return self._ensure(ENV, ENV, "env")

    def _addressed(self, m: Value, names: Sequence[str] | None) -> str | None:
        """The node named by a message field: one of ``names``; with None, the message's
        only field whose type is a node type (if exactly one)."""
        if not isinstance(m, RecordValue) or not isinstance(self.mt, T.VariantT):
            return None
        c = self.mt.case_index(m.tag) if m.tag is not None else None
        if c is None:
            return None
        fields = [(name, ft) for name, ft in self.mt.cases[c].fields if ft in self.types]
        if names is None:
            fields = fields if len(fields) == 1 else []
        else:
            fields = [(name, ft) for name, ft in fields if name in names]
        for name, ft in fields:
            return self._node_key(ft, _field(m, (name,)))
        return None

    # ---- messages
    def held(self, state: dict[str, Value]) -> Counter:
        out: Counter = Counter()
        for v in self.msg_vars:
            if v.name in state:
                out.update(_messages_in(v.t, state[v.name], self.mt))
        return out

    def tested(self, i: int) -> list[Value]:
        """Messages the action of step ``i`` requires to be present (``require X in msgs``
        among its leading requires), evaluated in the state before the step."""
        step = self.trace[i]
        a = self.actions.get(step.action or "")
        if a is None or not self.msg_vars:
            return []
        slots = {v.slot for v in self.msg_vars}
        conds = []
        for st in a.body:
            if not isinstance(st, ir.Require):
                break
            conds.extend(_conjuncts(st.cond))
        tests = [c.left for c in conds if isinstance(c, ir.Binop) and c.op == "in"
                 and isinstance(c.right, ir.Var) and c.right.slot in slots
                 and c.left.t == self.mt]
        if not tests:
            return []
        try:
            from ..explain import Evaluator, packed_states

            if self.evaluator is None:
                self.evaluator = Evaluator(self.compiled)
                self.packed = packed_states(self.compiled, self.trace)
            univ = self.compiled.universe
            mapping = {b.local.uid: ir.Const(univ.encode(b.local.t, x), b.local.t)
                       for b, x in zip(a.params, step.args)}
            out = []
            for e in tests:
                e = ir.substitute(e, mapping)
                out.append(self.evaluator.readable(e, self.packed[i - 1]))
            return out
        except Exception:  # noqa: BLE001 (a diagram without these arrows is still useful)
            return []


def _conjuncts(e: ir.Expr) -> list[ir.Expr]:
    if isinstance(e, ir.Binop) and e.op == "and":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def sequence_diagram(compiled: CompiledSpec, trace: Sequence[TraceStep], *,
                     last_note: str | None = None,
                     first: str = "initial state") -> SequenceDiagram:
    """Who sent what to whom, step by step, in a trace (no drawing yet). ``first`` names
    its first state (a counterexample to induction starts from a pre-state)."""
    an = _Analysis(compiled, trace)
    an.node_lifelines()
    steps = [first] + [s.label or "" for s in trace[1:]]
    events: list[Event] = []
    arrows: list[Arrow] = []
    sent_at: dict[Value, tuple[str, int]] = {}
    pending: dict[Value, Arrow] = {}
    held = an.held(trace[0].state) if trace else Counter()
    for m in held:
        src = an._addressed(m, SRC_FIELDS) or an._ensure(ENV, ENV, "env")
        sent_at[m] = (src, 0)
    fault_names = {a.name for a in compiled.typed.actions if a.fault}
    for i in range(1, len(trace)):
        step = trace[i]
        actor = an.actor(step)
        now = an.held(step.state)
        added = now - held
        removed = held - now
        fault = step.action in fault_names
        received: list[Value] = []
        a = an.actions.get(step.action or "")
        if a is not None:
            for b, x in zip(a.params, step.args):
                if b.local.t == an.mt:
                    received.append(x)
        received.extend(an.tested(i))
        if fault:
            # A fault receives nothing: it loses what it removes (a message it only
            # copies, `Duplicate(m)`, is still in flight, to be received later).
            received = []
        received.extend(m for m in removed if m not in received)
        drawn = False
        for m in dict.fromkeys(received):
            src, at = sent_at.get(m, (an._ensure(ENV, ENV, "env"), 0))
            dst = actor
            if an.lifelines.get(actor, Lifeline("", "", "")).kind == "env":
                dst = an._addressed(m, DST_FIELDS) or actor
            lost = fault and m in removed
            arrows.append(Arrow(format_value(m), src, at, dst, i, lost))
            pending.pop(m, None)
            drawn = True
        if fault:
            # Copies a fault makes of messages already sent (duplication) are the same
            # message, sent by the same step: each later receipt is drawn from there.
            added = Counter({m: n for m, n in added.items() if m not in sent_at})
        for m in added:
            src = an._addressed(m, SRC_FIELDS) or actor
            sent_at[m] = (src, i)
            arrow = Arrow(format_value(m), src, i, None, None)
            pending[m] = arrow
            arrows.append(arrow)
            drawn = True
        kind = "fault" if fault else ("step" if drawn else "local")
        events.append(Event(i, actor, kind, step.action or ""))
        held = now
    # A message sent and then received: its "never received" stub is not needed.
    received_from = {(x.label, x.src, x.src_step) for x in arrows if x.dst is not None}
    arrows = [x for x in arrows if x.dst is not None
              or (x.label, x.src, x.src_step) not in received_from]
    notes = []
    if an.fallback:
        notes.append("No action parameter names a node (" + an.why_nodes + "): one lifeline "
                     "per action parameter type.")
    else:
        notes.append("Nodes: " + an.why_nodes + ".")
    if not an.msg_vars:
        notes.append("No state variable holds messages (a set, bag or sequence of Message), "
                     "so no arrows are drawn.")
    order = {"role": 0, "env": 1, "type": 2, "node": 3}
    used = {e.lifeline for e in events} | {x.src for x in arrows} | \
        {x.dst for x in arrows if x.dst}
    lifelines = sorted((ll for ll in an.lifelines.values()
                        if ll.kind == "node" or ll.key in used),
                       key=lambda ll: order[ll.kind])
    return SequenceDiagram(lifelines, steps, events, arrows, notes, last_note)


# ------------------------------------------------------------------------- drawing
COL = 190
ROW = 46
LEFT = 270
TOP = 64
CHAR = 6.6     # average width of a character at the label font size


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def render_svg(d: SequenceDiagram, *, title: str | None = None) -> str:
    """The diagram as one standalone SVG element (no scripts, no external resources)."""
    cols = {ll.key: LEFT + COL // 2 + i * COL for i, ll in enumerate(d.lifelines)}
    width = LEFT + COL * max(1, len(d.lifelines)) + 120
    height = TOP + ROW * (len(d.steps) + 1)

    def y(step: int) -> float:
        return TOP + ROW * step + ROW / 2

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="msc" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">',
        f"<title>{escape(title or 'Message sequence diagram')}</title>",
        "<defs>"
        '<marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#1f4e99"/></marker>'
        '<marker id="arrlost" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,10 M0,10 L10,0" stroke="#c0392b" '
        'stroke-width="2"/></marker>'
        "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    # Rows: stripes, the last state's mark, step numbers and actions.
    for i in range(0, len(d.steps), 2):
        out.append(f'<rect x="0" y="{y(i) - ROW / 2:.1f}" width="{width}" height="{ROW}" '
                   'fill="#f6f8fb"/>')
    if d.last_note and d.steps:
        yy = y(len(d.steps) - 1)
        out.append(f'<rect class="violated" x="0" y="{yy - ROW / 2:.1f}" width="{width}" '
                   f'height="{ROW}" fill="#fde2e0"/>')
        out.append(f'<text x="40" y="{yy + 18:.1f}" fill="#9b1c13" font-size="11">'
                   f"{escape(_clip(d.last_note, 40))}</text>")
    for i, label in enumerate(d.steps):
        yy = y(i) - (5 if d.last_note and i == len(d.steps) - 1 else 0)
        out.append(f'<text x="10" y="{yy + 4:.1f}" fill="#555">{i + 1}</text>')
        out.append(f'<text x="40" y="{yy + 4:.1f}" fill="#222"><title>{escape(label)}'
                   f'</title>{escape(_clip(label, 34))}</text>')
    # Lifelines.
    for ll in d.lifelines:
        x = cols[ll.key]
        fill = {"node": "#dbe8fb", "role": "#fde9c8", "env": "#eeeeee", "type": "#e6f4e6"}[
            ll.kind]
        w = max(70, min(COL - 20, len(ll.label) * CHAR + 20))
        out.append(f'<line x1="{x}" y1="{TOP - 14}" x2="{x}" y2="{height - 10}" '
                   'stroke="#8899aa" stroke-dasharray="4 4"/>')
        out.append(f'<rect x="{x - w / 2:.1f}" y="14" width="{w:.1f}" height="30" rx="5" '
                   f'fill="{fill}" stroke="#556677"/>')
        out.append(f'<text x="{x}" y="34" text-anchor="middle" font-weight="bold">'
                   f"{escape(_clip(ll.label, 24))}</text>")
    # Steps on lifelines.
    for e in d.events:
        if e.lifeline not in cols:
            continue
        x, yy = cols[e.lifeline], y(e.step)
        if e.kind == "fault":
            out.append(f'<g class="fault"><path d="M{x - 8},{yy - 8} L{x + 8},{yy + 8} '
                       f'M{x - 8},{yy + 8} L{x + 8},{yy - 8}" stroke="#c0392b" '
                       f'stroke-width="3"/><text x="{x + 12}" y="{yy - 8:.1f}" fill="#c0392b" '
                       f'font-size="11">fault: {escape(_clip(e.label, 22))}</text></g>')
        else:
            fill = "#ffffff" if e.kind == "local" else "#9fc1ee"
            out.append(f'<rect class="{e.kind}" x="{x - 6}" y="{yy - 9:.1f}" width="12" '
                       f'height="18" fill="{fill}" stroke="#1f4e99"/>')
            if e.kind == "local":
                out.append(f'<text x="{x + 10}" y="{yy + 4:.1f}" fill="#555" font-size="11">'
                           f"{escape(_clip(e.label, 24))}</text>")
    # Messages.
    stubs: Counter = Counter()
    for a in d.arrows:
        if a.src not in cols:
            continue
        x1, y1 = cols[a.src], y(a.src_step)
        if a.dst is None or a.dst not in cols:
            k = stubs[(a.src, a.src_step)]
            stubs[(a.src, a.src_step)] += 1
            x2, y2 = x1 + 46, y1 + 10 + 13 * k
            out.append(f'<g class="unreceived"><line x1="{x1 + 6}" y1="{y1:.1f}" '
                       f'x2="{x2}" y2="{y2:.1f}" stroke="#1f4e99" stroke-dasharray="3 3" '
                       f'marker-end="url(#arr)"/><text x="{x2 + 4}" y="{y2 + 4:.1f}" '
                       f'fill="#1f4e99" font-size="11"><title>{escape(a.label)} (not received '
                       f"in this trace)</title>{escape(_clip(a.label, 26))}</text></g>")
            continue
        x2, y2 = cols[a.dst], y(a.dst_step or 0)
        stroke = "#c0392b" if a.lost else "#1f4e99"
        marker = "url(#arrlost)" if a.lost else "url(#arr)"
        dash = ' stroke-dasharray="6 3"' if a.lost else ""
        if a.dst == a.src:
            path = (f"M{x1 + 6},{y1:.1f} C{x1 + 60},{y1:.1f} {x2 + 60},{y2:.1f} "
                    f"{x2 + 6},{y2:.1f}")
            lx, ly = x1 + 40, (y1 + y2) / 2
            anchor = "start"
        else:
            off = 6 if x2 > x1 else -6
            path = f"M{x1 + off},{y1:.1f} L{x2 - off},{y2:.1f}"
            # The label sits under the arrowhead, on the side the arrow comes from: each
            # step receives few messages, so labels rarely collide there.
            lx, ly = (x2 - 12, y2 + 16) if x2 > x1 else (x2 + 12, y2 + 16)
            anchor = "end" if x2 > x1 else "start"
        out.append(f'<g class="{"lost" if a.lost else "message"}"><path d="{path}" '
                   f'fill="none" stroke="{stroke}" stroke-width="1.5"{dash} '
                   f'marker-end="{marker}"/><text x="{lx:.1f}" y="{ly:.1f}" fill="{stroke}" '
                   f'font-size="11" text-anchor="{anchor}"><title>{escape(a.label)}</title>'
                   f"{escape(_clip(a.label, 30))}</text></g>")
    out.append("</svg>")
    return "\n".join(out)


def sequence_svg(compiled: CompiledSpec, trace: Sequence[TraceStep], *,
                 title: str | None = None, last_note: str | None = None) -> str:
    """The SVG sequence diagram of a trace."""
    return render_svg(sequence_diagram(compiled, trace, last_note=last_note), title=title)


def describe(d: SequenceDiagram) -> list[str]:
    """The diagram as text lines (for tests and for terminals)."""
    lines = ["lifelines: " + ", ".join(ll.label for ll in d.lifelines)]
    for a in d.arrows:
        to = f"{a.dst}@{a.dst_step + 1}" if a.dst is not None and a.dst_step is not None \
            else "(not received)"
        lines.append(f"{a.src}@{a.src_step + 1} -> {to}: {a.label}" + (" LOST" if a.lost
                                                                       else ""))
    for e in d.events:
        if e.kind in ("local", "fault"):
            lines.append(f"{e.kind} {e.lifeline}@{e.step + 1}: {e.label}")
    return lines

