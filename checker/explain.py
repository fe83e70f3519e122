"""Why a property fails: explanations a person reads, the way pytest explains an assert.

``explain(compiled, result)`` fills ``Violation.explanation`` after any engine:

* an invariant: the smallest false sub-formula of the invariant in the violating state,
  found by evaluating its parts there: ``and`` descends into the false conjunct,
  ``forall`` into the first binding that makes the body false (the witnesses), ``not (A
  and B)`` shows A and B true, ``A implies B`` shows A true and B false, a call of a
  ``def`` shows the def's body; comparisons show the values of their sides;
* a transition invariant: the same over the last step (pre-state, post-state);
* a deadlock: for each action, the first ``require`` that is false in the final state
  (for each choice of the parameters, grouped when they all fail the same way).

Sub-expressions are evaluated by compiling them with the code generator (``ExprGen``)
over the packed state, so the explanation uses the checker's own semantics: one
evaluator, not two. Bound names are replaced by constants (``ir.substitute``) before a
sub-expression is shown or evaluated, so every line shows concrete values.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ir
from . import types as T
from .codegen import ExprGen, Lines, Pool, StmtGen, def_functions
from .compile import CompiledSpec
from .result import Result, TraceStep, Violation
from .universe import iter_bits
from .values import SetValue, Value, format_value

MAX_LINES = 60          # an explanation longer than this is cut (with a note)
MAX_DEPTH = 10          # nested levels of "because"
MAX_COMBOS = 100_000    # bindings tried when looking for a witness
VALUE_WIDTH = 100       # longer values are shortened
FEW = 4                 # up to this many parameter choices are listed one by one
NAMED_WIDTH = 24        # a bound value longer than this (or a record) is shown by its name


@dataclass(frozen=True)
class NamedConst(ir.Const):
    """A ``let`` name replaced by its value: evaluated as the value, shown as the name."""

    name: str = ""


def plain(node: Any) -> Any:
    """``node`` with every NamedConst turned back into a plain Const (for the code
    generator, which dispatches on the exact node type)."""
    if isinstance(node, NamedConst):
        return ir.Const(node.value, node.t, node.span)
    if isinstance(node, (ir.Expr, ir.Binding, ir.Stmt, ir.PathStep)):
        changes = {}
        for f in dataclasses.fields(node):
            if f.name in ("t", "span", "container"):
                continue
            old = getattr(node, f.name)
            new = plain(old)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(node, **changes) if changes else node
    if isinstance(node, tuple):
        items = tuple(plain(x) for x in node)
        return items if any(a is not b for a, b in zip(items, node)) else node
    return node


class ExplainError(Exception):
    """A sub-expression could not be evaluated (the explanation gives up on that part)."""


# ---------------------------------------------------------------------------- printing
_BINOPS = {
    "implies": ("implies", 1), "iff": ("iff", 1), "or": ("or", 2), "and": ("and", 3),
    "eq": ("==", 5), "ne": ("!=", 5), "lt": ("<", 5), "le": ("<=", 5), "gt": (">", 5),
    "ge": (">=", 5), "subseteq": ("<=", 5), "subset": ("<", 5), "supseteq": (">=", 5),
    "supset": (">", 5), "in": ("in", 5), "notin": ("not in", 5), "union": ("|", 6),
    "inter": ("&", 7), "range": ("..", 8), "add": ("+", 9), "sub": ("-", 9), "diff": ("-", 9),
    "mul": ("*", 10), "div": ("/", 10), "mod": ("%", 10),
}
_BUILTIN_NAMES = {"bagsize": "size"}


class Printer:
    """Typed IR back to spec text. Constants that came from a name in the source (``RM``,
    ``aborted``, ``Quorums``) are shown as written when the source text is known;
    other constants (substituted witnesses) as their readable values."""

    def __init__(self, compiled: CompiledSpec, source_text: str | None = None,
                 defs: Sequence[ir.DefInstance] | None = None):
        self.univ = compiled.universe
        self.typed = compiled.typed
        self.defs = tuple(defs) if defs is not None else self.typed.defs
        self.lines = source_text.splitlines() if source_text is not None else None
        self.nonfault = tuple(i for i, a in enumerate(self.typed.actions) if not a.fault)

    def value(self, e: ir.Expr) -> str:
        return format_value(self.univ.decode(e.t, e.value))

    def show(self, e: ir.Expr, prec: int = 0) -> str:
        text, p = self._show(e)
        return f"({text})" if p < prec else text

    def _source(self, e: ir.Expr) -> str | None:
        sp = e.span
        if self.lines is None or sp.line <= 0 or sp.end_line != sp.line or not sp.end_column:
            return None
        if sp.line > len(self.lines):
            return None
        text = self.lines[sp.line - 1][sp.column - 1: sp.end_column - 1]
        if not text.replace(".", "_").isidentifier():
            return None
        if isinstance(e.t, (T.EnumT, T.SymT)) and isinstance(e.value, int):
            # Only the value's own name (possibly Enum.value) stands for it.
            member = e.t.members[e.value] if 0 <= e.value < len(e.t.members) else None
            if member is None or text.rsplit(".", 1)[-1] != member:
                return None
        return text

    def _show(self, e: ir.Expr) -> tuple[str, int]:  # noqa: C901 (one case per node)
        if isinstance(e, NamedConst):
            return e.name, 13
        if isinstance(e, ir.Const):
            named = self._source(e)
            if named is not None:
                return named, 13
            return self.value(e), 13
        if isinstance(e, ir.Var):
            return e.name + ("'" if e.primed else ""), 13
        if isinstance(e, ir.Local):
            return e.name, 13
        if isinstance(e, ir.Convert):
            return self._show(e.arg)
        if isinstance(e, ir.Unop):
            if e.op == "not":
                if (isinstance(e.arg, ir.Enabled) and e.arg.actions == self.nonfault
                        and self.nonfault):
                    return "quiescent", 13
                if isinstance(e.arg, ir.Binop) and e.arg.op == "in":
                    return f"{self.show(e.arg.left, 6)} not in {self.show(e.arg.right, 6)}", 5
                return f"not {self.show(e.arg, 4)}", 4
            return f"-{self.show(e.arg, 11)}", 11
        if isinstance(e, ir.Binop):
            sym, p = _BINOPS[e.op]
            if p == 5:
                return f"{self.show(e.left, 6)} {sym} {self.show(e.right, 6)}", p
            if e.op == "implies":
                return f"{self.show(e.left, 2)} implies {self.show(e.right, 1)}", p
            if e.op == "iff":
                return f"{self.show(e.left, 2)} iff {self.show(e.right, 2)}", p
            if e.op == "range":     # written 1..N, without spaces
                return f"{self.show(e.left, p + 1)}..{self.show(e.right, p + 1)}", p
            return f"{self.show(e.left, p)} {sym} {self.show(e.right, p + 1)}", p
        if isinstance(e, ir.IsTag):
            assert isinstance(e.arg.t, T.VariantT)
            return f"{self.show(e.arg, 6)} is {e.arg.t.cases[e.case].name}", 5
        if isinstance(e, ir.GetField):
            return f"{self.show(e.arg, 12)}.{e.name}", 12
        if isinstance(e, ir.GetIndex):
            return f"{self.show(e.arg, 12)}[{self.show(e.key)}]", 12
        if isinstance(e, ir.Construct):
            if e.case is not None:
                assert isinstance(e.t, T.VariantT)
                name = e.t.cases[e.case].name
            else:
                name = e.t.name if isinstance(e.t, T.RecordT) else "?"
            if not e.args and e.case is not None:
                return name, 13
            return f"{name}({', '.join(self.show(a) for a in e.args)})", 13
        if isinstance(e, ir.SetLit):
            return "{" + ", ".join(self.show(x) for x in e.elems) + "}", 13
        if isinstance(e, ir.SeqLit):
            return "[" + ", ".join(self.show(x) for x in e.elems) + "]", 13
        if isinstance(e, ir.MapLit):
            assert isinstance(e.t, T.MapT)
            keys = [format_value(self.univ.decode(e.t.key, k))
                    for k in self.univ.table(e.t.key)]
            return "{" + ", ".join(f"{k}: {self.show(x)}" for k, x in zip(keys, e.values)) \
                + "}", 13
        if isinstance(e, ir.Quant):
            return f"{e.kind} {self._bindings(e.bindings)}: {self.show(e.body)}", 0
        if isinstance(e, ir.SetFilter):
            return (f"{{{e.binding.local.name} in {self.show(e.binding.domain, 6)} where "
                    f"{self.show(e.cond)}}}"), 13
        if isinstance(e, ir.SetMap):
            cond = f" where {self.show(e.cond)}" if e.cond is not None else ""
            return f"{{{self.show(e.elem)} for {self._bindings(e.bindings)}{cond}}}", 13
        if isinstance(e, ir.MapComp):
            b = e.binding
            return (f"{{{b.local.name}: {self.show(e.value)} for {b.local.name} in "
                    f"{self.show(b.domain, 6)}}}"), 13
        if isinstance(e, ir.IfExpr):
            return (f"{self.show(e.then, 1)} if {self.show(e.cond, 1)} else "
                    f"{self.show(e.orelse)}"), 0
        if isinstance(e, ir.Builtin):
            if e.name == "slice":
                return (f"{self.show(e.args[0], 12)}[{self.show(e.args[1])}.."
                        f"{self.show(e.args[2])}]"), 12
            name = _BUILTIN_NAMES.get(e.name, e.name)
            return f"{name}({', '.join(self.show(a) for a in e.args)})", 13
        if isinstance(e, ir.CallDef):
            d = self.defs[e.def_id]
            if not d.params:
                return d.name, 13
            return f"{d.name}({', '.join(self.show(a) for a in e.args)})", 13
        if isinstance(e, ir.Enabled):
            names = [self.typed.actions[i].name for i in e.actions]
            return f"enabled({', '.join(names)})", 13
        if isinstance(e, ir.FaultsTaken):
            return "faults_taken", 13
        return f"<{type(e).__name__}>", 13

    def _bindings(self, bindings: Sequence[ir.Binding]) -> str:
        groups: list[tuple[list[str], ir.Expr]] = []
        for b in bindings:
            if groups and groups[-1][1] == b.domain and not _mentions(b.domain, groups[-1][0]):
                groups[-1][0].append(b.local.name)
            else:
                groups.append(([b.local.name], b.domain))
        return ", ".join(f"{', '.join(names)} in {self.show(dom, 6)}" for names, dom in groups)


def _mentions(e: ir.Expr, names: list[str]) -> bool:
    return any(isinstance(x, ir.Local) and x.name in names for x in ir.ir_nodes(e))


# --------------------------------------------------------------------------- evaluating
class Evaluator:
    """Compiles IR expressions (closed: no free bound names) into Python functions of
    the packed pre-state and post-state, with the spec's own code generator."""

    def __init__(self, compiled: CompiledSpec, defs: Sequence[ir.DefInstance] | None = None):
        self.compiled = compiled
        self.univ = compiled.universe
        self.defs = tuple(defs) if defs is not None else compiled.typed.defs
        slots = [v.slot for v in compiled.typed.variables]
        self.width = len(slots) + (1 if compiled.max_faults is not None else 0)
        self.env = {s: f"v{s}" for s in range(self.width)}
        self.primed = {s: f"w{s}" for s in range(self.width)}
        self.pool = Pool()
        out = Lines()
        def_functions(self.defs, self.univ, self.pool, out)
        self.ns: dict[str, Any] = self.pool.namespace()
        exec(compile(out.text(), "<explain defs>", "exec"), self.ns)  # noqa: S102
        model = compiled.model
        for i, a in enumerate(compiled.typed.actions):
            self.ns[f"_en{i}"] = (lambda s, name=a.name:
                                  any(st.action == name for st in model.steps(s)))
        self._cache: dict[Any, Callable] = {}
        self._ndefs = len(self.defs)

    def _unpack(self, name: str, prefix: str) -> str:
        names = ", ".join(f"{prefix}{s}" for s in range(self.width))
        return f"{names}{',' if self.width == 1 else ''} = {name}" if self.width else "pass"

    def function(self, e: ir.Expr) -> Callable[[tuple, tuple | None], Any]:
        try:
            return self._cache[e]
        except (KeyError, TypeError):
            pass
        gen = ExprGen(self.univ, self.pool, self.defs, self.env, self.primed)
        code = gen.expr(plain(e))
        src = "\n".join([
            "def _f(s, t=None):",
            f"    {self._unpack('s', 'v')}",
            "    if t is None:",
            "        t = s",
            f"    {self._unpack('t', 'w')}",
            f"    return {code}",
        ]) + "\n"
        self.ns.update(self.pool.namespace())
        exec(compile(src, "<explain>", "exec"), self.ns)  # noqa: S102 (generated code)
        fn = self.ns.pop("_f")
        try:
            self._cache[e] = fn
        except TypeError:
            pass
        return fn

    def value(self, e: ir.Expr, pre: tuple, post: tuple | None = None) -> Any:
        """The runtime (packed) value of ``e``."""
        try:
            return self.function(e)(pre, post)
        except ExplainError:
            raise
        except Exception as err:  # noqa: BLE001 (a spec's run-time error, or ours)
            raise ExplainError(str(err) or type(err).__name__) from None

    def readable(self, e: ir.Expr, pre: tuple, post: tuple | None = None) -> Value:
        return self.univ.decode(e.t, self.value(e, pre, post))

    def members(self, dom: ir.Expr, pre: tuple, post: tuple | None = None) -> list[Any]:
        """The runtime values of the elements of a set (or a bag), in canonical order."""
        packed = self.value(dom, pre, post)
        t = dom.t
        if isinstance(t, T.SetT):
            return [self.univ.at_bit(t.elem, b) for b in iter_bits(packed)]
        if isinstance(t, T.BagT):
            return [x for x, _ in self.univ.bag_counts(t, packed)]
        raise ExplainError(f"cannot iterate over a {t}")

    def bindings(self, bindings: Sequence[ir.Binding], pre: tuple, post: tuple | None = None,
                 mapping: dict[int, ir.Expr] | None = None) -> Iterator[dict[int, ir.Expr]]:
        """Every assignment of constants to the bound names (later domains may use earlier
        names), in the order the checker itself iterates."""
        mapping = dict(mapping or {})
        if not bindings:
            yield mapping
            return
        first, rest = bindings[0], bindings[1:]
        dom = ir.substitute(first.domain, mapping)
        for x in self.members(dom, pre, post):
            m = {**mapping, first.local.uid: self.bound(first.local, x)}
            yield from self.bindings(rest, pre, post, m)

    def bound(self, local: ir.Local, x: Any) -> ir.Const:
        """The constant that stands for the bound name ``local`` with the runtime value
        ``x``: shown as its value when that is short and flat (``r2``, ``3``,
        ``{a1, a2}``), else as the name (a message or record, ``m.dst``, a long set), whose
        value the witness line gives."""
        text = format_value(self.univ.decode(local.t, x))
        if len(text) > NAMED_WIDTH or "=" in text:
            return NamedConst(x, local.t, name=local.name)
        return ir.Const(x, local.t)


def packed_states(compiled: CompiledSpec, trace: Sequence[TraceStep]) -> list[tuple]:
    """The packed form of each state of a trace (with the hidden fault counter when the
    spec has a fault budget: the number of fault steps taken so far)."""
    univ = compiled.universe
    variables = compiled.typed.variables
    budget = compiled.max_faults is not None
    faults = set(compiled.faults)
    out = []
    taken = 0
    for step in trace:
        if step.action in faults:
            taken += 1
        state = [univ.encode(v.t, step.state[v.name]) for v in variables]
        if budget:
            state.append(taken)
        out.append(tuple(state))
    return out


# --------------------------------------------------------------------------- why-trees
@dataclass
class Why:
    """One line of an explanation: an expression, its value, how that follows."""

    text: str
    value: str
    how: str = ""                                   # ", since both hold", " for x = 1"
    parts: list[tuple[str, str]] = field(default_factory=list)  # (sub-expression, value)
    children: list[Why] = field(default_factory=list)
    label: str = ""                                 # "b = n1: " (one choice of several)

    def lines(self, indent: int = 1, width: int = 96) -> list[str]:
        pad = "  " * indent + self.label
        detail = ""
        if self.parts:
            detail = " (" + ", ".join(f"{a} = {b}" for a, b in self.parts) + ")"
        head = f"{self.text} is {self.value}{self.how}{detail}"
        colon = ":" if self.children else ""
        if len(pad) + len(head) > width and self.how and len(self.text) > width // 2:
            # A long formula: what follows it goes on a line of its own.
            out = [f"{pad}{self.text}",
                   f"{' ' * len(pad)}is {self.value}{self.how}{detail}{colon}"]
        else:
            out = [f"{pad}{head}{colon}"]
        for c in self.children:
            out.extend(c.lines(indent + 1, width))
        return out


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _shorten(text: str, width: int = VALUE_WIDTH) -> str:
    if len(text) <= width:
        return text
    close = text[-1] if text[-1] in "})]" else ""
    return text[: width - 4 - len(close)] + " ..." + close


def _conjuncts(e: ir.Expr, op: str) -> list[ir.Expr]:
    if isinstance(e, ir.Binop) and e.op == op:
        return _conjuncts(e.left, op) + _conjuncts(e.right, op)
    return [e]


def _reads_state(e: ir.Expr, defs) -> bool:
    for x in ir.ir_nodes(e):
        if isinstance(x, (ir.Var, ir.Enabled, ir.FaultsTaken, NamedConst)):
            return True
        if isinstance(x, ir.CallDef) and defs[x.def_id].reads:
            return True
    return False


class Explainer:
    """Builds ``Why`` trees for boolean expressions in given states."""

    def __init__(self, compiled: CompiledSpec, source_text: str | None = None,
                 defs: Sequence[ir.DefInstance] | None = None):
        self.compiled = compiled
        self.ev = Evaluator(compiled, defs)
        self.pr = Printer(compiled, source_text, defs)
        self.defs = self.ev.defs
        self.univ = compiled.universe

    # ---- helpers
    def show(self, e: ir.Expr) -> str:
        return self.pr.show(e)

    def fmt(self, e: ir.Expr, pre, post=None) -> str:
        try:
            return _shorten(format_value(self.ev.readable(e, pre, post)))
        except ExplainError as err:
            return f"<cannot evaluate: {err}>"

    def truth(self, e: ir.Expr, pre, post=None) -> bool:
        return bool(self.ev.value(e, pre, post))

    def binding_text(self, bindings: Sequence[ir.Binding], m: dict[int, ir.Expr]) -> str:
        return ", ".join(f"{b.local.name} = {self.pr.value(m[b.local.uid])}" for b in bindings)

    # ---- the tree
    def why(self, e: ir.Expr, value: bool, pre, post=None, depth: int = 0) -> Why:
        """Why the closed boolean expression ``e`` has ``value`` in (pre, post)."""
        text = self.show(e)
        v = _bool(value)
        if depth >= MAX_DEPTH:
            return Why(text, v)
        try:
            return self._why(e, value, pre, post, depth, text, v)
        except ExplainError as err:
            return Why(text, v, f" (cannot look inside: {err})")

    def _why(self, e, value, pre, post, depth, text, v) -> Why:  # noqa: C901
        d = depth + 1
        if isinstance(e, ir.Convert):
            return self.why(e.arg, value, pre, post, depth)
        if isinstance(e, ir.Enabled) or (isinstance(e, ir.Unop) and e.op == "not"
                                         and isinstance(e.arg, ir.Enabled)):
            return Why(text, v, self._enabled_how(e if isinstance(e, ir.Enabled) else e.arg,
                                                  pre))
        if isinstance(e, ir.Unop) and e.op == "not":
            inner = e.arg
            if not isinstance(inner, _COMPOUND) or (isinstance(inner, ir.Binop)
                                                    and inner.op not in _LOGIC):
                return self._leaf(e, value, pre, post, text, v)
            sub = self.why(inner, not value, pre, post, d)
            if isinstance(inner, ir.Binop) and inner.op in ("and", "or") and sub.children:
                return Why(text, v, sub.how, sub.parts, sub.children)
            if isinstance(inner, ir.Quant) and sub.children:
                return Why(text, v, sub.how, sub.parts, sub.children)
            return Why(text, v, ", since", children=[sub])
        if isinstance(e, ir.Binop) and e.op in ("and", "or"):
            parts = _conjuncts(e, e.op)
            decisive = (e.op == "and") != value   # and-false / or-true: one part decides
            if decisive:
                for p in parts:
                    if self.truth(p, pre, post) == value:
                        return self.why(p, value, pre, post, depth)
                return Why(text, v)
            kids = [self.why(p, value, pre, post, d) for p in parts]
            how = ", since " + ("both hold" if value and len(parts) == 2 else
                                "all hold" if value else
                                "neither holds" if len(parts) == 2 else "none holds")
            return Why(text, v, how, children=kids)
        if isinstance(e, ir.Binop) and e.op == "implies":
            a = self.truth(e.left, pre, post)
            if not value:
                return Why(text, v, ", since",
                           children=[self.why(e.left, True, pre, post, d),
                                     self.why(e.right, False, pre, post, d)])
            if not a:
                return Why(text, v, ", since the left side is false",
                           children=[self.why(e.left, False, pre, post, d)])
            return Why(text, v, ", since the right side holds",
                       children=[self.why(e.right, True, pre, post, d)])
        if isinstance(e, ir.Binop) and e.op == "iff":
            a = self.truth(e.left, pre, post)
            b = self.truth(e.right, pre, post)
            return Why(text, v, ", since", children=[self.why(e.left, a, pre, post, d),
                                                     self.why(e.right, b, pre, post, d)])
        if isinstance(e, ir.Quant):
            return self._quant(e, value, pre, post, depth, text, v)
        if isinstance(e, ir.IfExpr):
            c = self.truth(e.cond, pre, post)
            branch = e.then if c else e.orelse
            return Why(text, v, ", since", children=[self.why(e.cond, c, pre, post, d),
                                                     self.why(branch, value, pre, post, d)])
        if isinstance(e, ir.CallDef):
            inst = self.defs[e.def_id]
            if inst.body.t == T.BOOL:
                try:
                    args = {p.uid: ir.Const(self.ev.value(a, pre, post), p.t)
                            for p, a in zip(inst.params, e.args)}
                except ExplainError:
                    args = None
                if args is not None:
                    body = ir.substitute(inst.body, args)
                    sub = self.why(body, value, pre, post, d)
                    return Why(text, v, ", since", children=[sub])
        return self._leaf(e, value, pre, post, text, v)

    def _enabled_how(self, e: ir.Enabled, state) -> str:
        """Which of the actions of ``enabled(...)`` (or ``quiescent``) can take a step:
        ``(RMRcvCommitMsg(r1) can take a step)``, or that none can."""
        actions = self.compiled.typed.actions
        names = {actions[i].name for i in e.actions}
        try:
            steps = [st for st in self.compiled.model.steps(state) if st.action in names]
        except Exception as err:  # noqa: BLE001 (a spec's run-time error)
            raise ExplainError(str(err) or type(err).__name__) from None
        labels = list(dict.fromkeys(st.label for st in steps))
        if not labels:
            if e.actions == self.pr.nonfault:
                faults = any(a.fault for a in actions)
                return " (no action" + (" other than a fault" if faults else "") + \
                    " can take a step)"
            return f" ({next(iter(names))} cannot take a step)" if len(names) == 1 else \
                " (none of these actions can take a step)"
        if len(labels) == 1:
            return f" ({labels[0]} can take a step)"
        if len(labels) == 2:
            return f" ({labels[0]} and {labels[1]} can take a step)"
        return f" ({labels[0]}, {labels[1]} and {len(labels) - 2} more can take a step)"

    def _quant(self, e: ir.Quant, value, pre, post, depth, text, v) -> Why:
        want = e.kind == "exists"   # the body value that decides: exists-true, forall-false
        decisive = (e.kind == "exists") == value
        tried = 0
        for m in self.ev.bindings(e.bindings, pre, post):
            tried += 1
            if tried > MAX_COMBOS:
                break
            body = ir.substitute(e.body, m)
            if self.truth(body, pre, post) == (want if decisive else not want):
                if decisive:
                    sub = self.why(body, value, pre, post, depth + 1)
                    return Why(text, v, f" for {self.binding_text(e.bindings, m)}",
                               children=[sub])
        names = ", ".join(b.local.name for b in e.bindings)
        if tried == 0:
            return Why(text, v, f": there is no choice of {names}")
        if e.kind == "forall":
            if tried == 1:
                return Why(text, v, f" (for the one choice of {names})")
            return Why(text, v, f" (for each of the {tried} choices of {names})")
        n = f"{tried} choice" + ("" if tried == 1 else "s")
        kids = []
        for m in itertools.islice(self.ev.bindings(e.bindings, pre, post), FEW):
            kid = self.why(ir.substitute(e.body, m), False, pre, post, depth + 1)
            kid.label = f"{self.binding_text(e.bindings, m)}: "
            kids.append(kid)
        shown = f", the first {FEW} shown" if tried > FEW else ""
        return Why(text, v, f", since no choice of {names} makes it true ({n}{shown})",
                   children=kids)

    def _leaf(self, e: ir.Expr, value, pre, post, text, v) -> Why:
        parts: list[tuple[str, str]] = []
        seen: set[str] = set()

        def add(x: ir.Expr, elem_tag: int | None = None):
            if not _reads_state(x, self.defs):
                return
            t = self.show(x)
            if t in seen:
                return
            seen.add(t)
            parts.append((t, self._value_text(x, pre, post, elem_tag)))

        sides: list[ir.Expr] = []
        if isinstance(e, ir.Unop) and e.op == "not" and isinstance(e.arg, ir.Binop):
            e = e.arg
        if isinstance(e, ir.Binop):
            sides = [e.left, e.right]
        elif isinstance(e, (ir.IsTag, ir.Unop, ir.GetField)):
            sides = [e.arg]
        elif isinstance(e, ir.Builtin):
            sides = list(e.args)
        elif isinstance(e, ir.GetIndex) and not _atomic(e):
            for a in _atoms(e):     # `up[primary]`: the key's value (primary = n2)
                add(a)
        elif isinstance(e, (ir.Var, ir.GetIndex, ir.CallDef)):
            sides = []
        tag = None
        if isinstance(e, ir.Binop) and e.op in ("in", "notin"):
            tag = self._tag_of(e.left, pre, post)
        for i, x in enumerate(sides):
            add(x, tag if (i == 1 and tag is not None) else None)
            if not _atomic(x):
                for a in _atoms(x):
                    add(a)
        return Why(text, v, parts=parts[:6])

    def _tag_of(self, x: ir.Expr, pre, post) -> int | None:
        if not isinstance(x.t, T.VariantT):
            return None
        try:
            val = self.ev.value(x, pre, post)
        except ExplainError:
            return None
        return val[0] if isinstance(val, tuple) and val else None

    def _value_text(self, x: ir.Expr, pre, post, elem_tag: int | None) -> str:
        try:
            val = self.ev.readable(x, pre, post)
        except ExplainError as err:
            return f"<cannot evaluate: {err}>"
        text = format_value(val)
        if (len(text) > VALUE_WIDTH and elem_tag is not None and isinstance(val, SetValue)
                and isinstance(x.t, T.SetT) and isinstance(x.t.elem, T.VariantT)):
            name = x.t.elem.cases[elem_tag].name
            same = [y for y in val.items if getattr(y, "tag", None) == name]
            inner = ", ".join(format_value(y) for y in same)
            return _shorten(f"{{... {len(val.items)} elements; its {name} messages: "
                            f"{inner or 'none'}}}", 2 * VALUE_WIDTH)
        return _shorten(text)

    # ---- deadlock
    def deadlock(self, state: tuple) -> list[str]:
        """For each action switched on, why it cannot take a step from ``state``."""
        out: list[str] = []
        faults_on = set(self.compiled.faults)
        for a in self.compiled.typed.actions:
            if a.fault and a.name not in faults_on:
                continue
            out.extend(self.action_blocked(a, state))
        return out

    def action_blocked(self, a: ir.Action, state: tuple, indent: int = 1) -> list[str]:
        pad = "  " * indent
        head = a.name
        if a.params:
            head += "(" + ", ".join(f"{b.local.name} in {self.pr.show(b.domain, 6)}"
                                    for b in a.params) + ")"
        budget = self.compiled.max_faults
        if a.fault and budget is not None and state[-1] >= budget:
            return [f"{pad}{head}: the fault budget ({budget}) is used up"]
        names = ", ".join(b.local.name for b in a.params)
        try:
            combos = list(itertools.islice(self.ev.bindings(a.params, state), MAX_COMBOS))
            reasons = [(m, self._blocked(ir.substitute(a.body, m), state, 0)) for m in combos]
        except ExplainError as err:
            return [f"{pad}{head}: (cannot evaluate: {err})"]
        if not combos:
            doms = ", ".join(f"{self.pr.show(b.domain, 6)} = {self.fmt(b.domain, state)}"
                             for b in a.params if _reads_state(b.domain, self.defs))
            return [f"{pad}{head}: there is no choice of {names}"
                    + (f" ({doms})" if doms else "")]
        if not a.params:
            return self._inline(f"{pad}{head}", reasons[0][1], indent)
        if len({self._summary(r) for _, r in reasons}) == 1:
            n = len(reasons)
            return self._inline(f"{pad}{head}: for every choice of {names} ({n})",
                                reasons[0][1], indent)
        lines = [f"{pad}{head}: no choice of {names} makes it possible"
                 + (f" ({len(reasons)} choices, the first {FEW} shown)"
                    if len(reasons) > FEW else "") + ":"]
        for m, r in reasons[:FEW]:
            lines.extend(self._inline(f"{pad}  {self.binding_text(a.params, m)}", r,
                                      indent + 1))
        return lines

    def _inline(self, label: str, reason: Why | str, indent: int) -> list[str]:
        """``label: reason`` on one line, the reason's sub-reasons (if several) below."""
        if isinstance(reason, str):
            return [f"{label}: {reason}"]
        leaf = reason
        while (len(leaf.children) == 1 and leaf.how in ("", ", since")
               and leaf.children[0].value == leaf.value):
            leaf = leaf.children[0]
        first = Why(leaf.text, leaf.value, leaf.how, leaf.parts)
        lines = [f"{label}: {first.lines(0, 10_000)[0]}" + (":" if leaf.children else "")]
        for c in leaf.children:
            lines.extend(c.lines(indent + 1))
        return lines

    def _summary(self, r: Why | str) -> str:
        return "\n".join(self._inline("", r, 0))

    def _blocked(self, stmts: Sequence[ir.Stmt], state: tuple, depth: int) -> Why | str:
        """Why this block takes no step from ``state``: the first false require, walking
        the statements as the action does (lets, assignments, ifs, choices)."""
        state = tuple(state)
        for i, st in enumerate(stmts):
            rest = tuple(stmts[i + 1:])
            if isinstance(st, ir.Require):
                if not self.truth(st.cond, state):
                    return self.why(st.cond, False, state, None, 1)
            elif isinstance(st, ir.Let):
                value = self.ev.value(st.value, state)
                named = NamedConst(value, st.local.t, name=st.local.name)
                rest = ir.substitute(rest, {st.local.uid: named})
                return self._blocked(rest, state, depth)
            elif isinstance(st, ir.Assign):
                state = self._assign(st, state)
            elif isinstance(st, ir.If):
                for cond, body in st.branches:
                    if self.truth(cond, state):
                        return self._blocked(tuple(body) + rest, state, depth)
                return self._blocked(tuple(st.orelse) + rest, state, depth)
            elif isinstance(st, ir.Either):
                if depth > 3:
                    return "every branch of `either` is blocked"
                subs = [self._blocked(tuple(b) + rest, state, depth + 1) for b in st.branches]
                texts = [self._summary(s) for s in subs]
                if len(set(texts)) == 1:
                    return subs[0]
                return "every branch of `either` is blocked: " + "; ".join(
                    f"branch {k + 1}{t}" for k, t in enumerate(texts))
            elif isinstance(st, ir.Choose):
                names = ", ".join(b.local.name for b in st.bindings)
                combos = list(itertools.islice(self.ev.bindings(st.bindings, state), MAX_COMBOS))
                ok = [m for m in combos
                      if st.cond is None or self.truth(ir.substitute(st.cond, m), state)]
                if not combos:
                    return f"there is nothing to choose {names} from"
                if not ok:
                    where = self.show(st.cond) if st.cond is not None else ""
                    return f"no choice of {names} satisfies {where}"
                if depth > 3:
                    return f"no choice of {names} lets it continue"
                subs = [(m, self._blocked(ir.substitute(tuple(st.body) + rest, m), state,
                                          depth + 1)) for m in ok]
                texts = {self._summary(s) for _, s in subs}
                if len(texts) == 1:
                    return f"for every choice of {names}{self._summary(subs[0][1])}"
                shown = "; ".join(f"{self.binding_text(st.bindings, m)}{self._summary(s)}"
                                  for m, s in subs[:FEW])
                more = f" ({len(subs)} choices)" if len(subs) > FEW else ""
                return f"no choice of {names} lets it continue{more}: {shown}"
        return "no require is false here (the action should be enabled)"

    def _assign(self, st: ir.Assign, state: tuple) -> tuple:
        """The state after an assignment (to see what later requires see)."""
        slot = st.var.slot
        if not st.path:
            new = self.ev.value(st.value, state)
        else:
            out = Lines()
            sg = StmtGen(self.univ, self.ev.pool, self.defs, out, None)
            gen = ExprGen(self.univ, self.ev.pool, self.defs, self.ev.env, self.ev.primed)
            code = sg.updated(gen, f"v{slot}", plain(st.path), plain(st.value), 1)
            src = "def _u(s):\n    " + self.ev._unpack("s", "v") + "\n" + out.text() \
                + f"    return {code}\n"
            self.ev.ns.update(self.ev.pool.namespace())
            try:
                exec(compile(src, "<explain assign>", "exec"), self.ev.ns)  # noqa: S102
                new = self.ev.ns.pop("_u")(state)
            except Exception as err:  # noqa: BLE001
                raise ExplainError(str(err)) from None
        return state[:slot] + (new,) + state[slot + 1:]


_LOGIC = ("and", "or", "implies", "iff")
_COMPOUND = (ir.Binop, ir.Quant, ir.IfExpr, ir.CallDef, ir.Unop)


def _atomic(e: ir.Expr) -> bool:
    if isinstance(e, (ir.Var, ir.Const, ir.Local)):
        return True
    if isinstance(e, (ir.GetIndex, ir.GetField)):
        return _atomic(e.arg) and (not isinstance(e, ir.GetIndex) or
                                   isinstance(e.key, ir.Const))
    return False


def _atoms(e: ir.Expr) -> list[ir.Expr]:
    """The maximal state-reading atoms (``x``, ``m[k]``, ``r.f``) inside ``e``."""
    if isinstance(e, (ir.Quant, ir.SetFilter, ir.SetMap, ir.MapComp)):
        # Names are bound inside: only the atoms that do not use them are closed
        # (`net` in `{m in net where m is Req}`).
        return [a for a in _inner_atoms(e) if not any(isinstance(x, ir.Local)
                                                      for x in ir.ir_nodes(a))]
    if isinstance(e, ir.CallDef):   # its value, then its arguments': twice(count), count
        return [e] + [a for x in e.args for a in _atoms(x)]
    if isinstance(e, NamedConst) or (_atomic(e) and not isinstance(e, (ir.Const, ir.Local))):
        return [e]
    return _inner_atoms(e)


def _inner_atoms(e: ir.Expr) -> list[ir.Expr]:
    out: list[ir.Expr] = []
    if isinstance(e, ir.GetIndex):
        # The key first: in `phase[m.dst]`, `m.dst = n3` says more than the whole map.
        return _atoms(e.key) + _atoms(e.arg)
    for f in dataclasses.fields(e):
        if f.name in ("t", "span"):
            continue
        x = getattr(e, f.name)
        for y in (x if isinstance(x, tuple) else (x,)):
            if isinstance(y, ir.Binding):
                y = y.domain
            if isinstance(y, ir.Expr):
                out.extend(_atoms(y))
    return out


# ------------------------------------------------------------------------------ facade
def explain_violation(compiled: CompiledSpec, violation: Violation,
                      source_text: str | None = None) -> tuple[str, ...]:
    """The explanation lines for one violation (empty when there is nothing to say)."""
    if not violation.trace:
        return ()
    exp = Explainer(compiled, source_text)
    states = packed_states(compiled, violation.trace)
    n = len(states)
    if violation.kind in ("invariant", "transition"):
        inv = next((i for i in compiled.typed.invariants if i.name == violation.property), None)
        if inv is None:
            return ()
        if violation.kind == "transition":
            if n < 2:
                return ()
            pre, post = states[-2], states[-1]
            where = f"the step from state {n - 1} to state {n}"
        else:
            pre, post = states[-1], None
            where = f"state {n}"
        body = inv.body
        try:
            holds = exp.truth(body, pre, post)
        except ExplainError as err:
            return (f"{inv.name} cannot be evaluated in {where}: {err}",)
        if holds:
            return (f"{inv.name} holds in {where} (the engine reported it violated; the "
                    "trace may come from another engine's encoding)",)
        tree = exp.why(body, False, pre, post)
        lines = [f"{inv.name} is false in {where}:"]
        lines.extend(tree.lines(1))
        return _cap(lines)
    if violation.kind == "deadlock":
        state = states[-1]
        lines = [f"No action is enabled in state {n}:"]
        lines.extend(exp.deadlock(state))
        if len(lines) == 1:
            lines.append("  (the spec has no actions switched on)")
        return _cap(lines)
    return ()


def _cap(lines: list[str]) -> tuple[str, ...]:
    if len(lines) > MAX_LINES:
        lines = lines[: MAX_LINES - 1] + [f"  ... ({len(lines) - MAX_LINES + 1} more lines)"]
    return tuple(lines)


def error_location(compiled: CompiledSpec, violation: Violation, source_text: str | None,
                   source_path: str | None) -> tuple[str, ...]:
    """For a run-time error of the spec: where it happened, as a spec error is shown
    (``file:line:col``, the line, a caret): the statement (or the property, or the
    ``def``'s body) whose code raised it, found by evaluating the failing action or
    property again in the error's state; else where that action or property is
    declared. The message names it ("in action Inc: ...", "... (while evaluating
    invariant Safe)", "... (while computing the initial states)")."""
    message = violation.message
    if not message:
        return ()
    found = re.match(r"in action (\w+)", message)
    kind = "action"
    if found is None:
        found = re.search(r"while evaluating (transition )?invariant (\w+)", message)
        kind = "transition invariant" if found and found.group(1) else "invariant"
    if found is None:
        if "(while computing the initial states)" not in message:
            return ()
        kind, name, decl = "init", "", None
    else:
        name = found.group(found.lastindex)
        decls = compiled.typed.actions if kind == "action" else compiled.typed.invariants
        decl = next((d for d in decls if d.name == name), None)
    place = _failed_at(compiled, violation.trace, kind, name)
    what = f"{kind} {name}".strip()
    if place is not None:
        span, header = place, f"here, in {what}"
    elif decl is not None and decl.span.line:
        span, header = decl.span, f"{what} is declared here"
    else:
        return ()
    lines = [f"{source_path or compiled.typed.name}:{span.line}:{span.column}: {header}"]
    text = source_text.splitlines() if source_text else []
    if 0 < span.line <= len(text):
        lines += [f"    {text[span.line - 1]}", "    " + " " * (span.column - 1) + "^"]
    return tuple(lines)


def _failed_at(compiled: CompiledSpec, trace: Sequence[TraceStep], kind: str, name: str):
    """The place in the spec where the error arises again when the action, property or
    ``init`` that failed is evaluated in the trace's last state (None if it does not)."""
    model = compiled.model
    try:
        states = packed_states(compiled, trace)
        if kind == "init":
            model.initial_states()
        elif not states:
            return None
        elif kind == "action":
            for action, run in compiled.action_functions:
                if action.name == name:
                    run(states[-1])
        elif kind == "invariant":
            for inv in model.invariants:
                if inv.name == name:
                    inv.holds(states[-1])
        elif len(states) >= 2:
            for inv in model.transition_invariants:
                if inv.name == name:
                    inv.holds(states[-2], states[-1])
    except Exception as err:  # noqa: BLE001 (any error of the spec's code is the one)
        return compiled.failed_at(err)
    return None


def explain(compiled: CompiledSpec, result: Result, *, source_text: str | None = None,
            source_path: str | None = None) -> Result:
    """The result with ``violation.explanation`` filled in (unchanged when there is no
    violation to explain). Never raises: an explanation that fails says so in one line."""
    v = result.violation
    if v is not None and v.kind == "error":
        lines = error_location(compiled, v, source_text, source_path)
        if not lines:
            return result
        return dataclasses.replace(result, violation=dataclasses.replace(v, explanation=lines))
    if v is None or v.kind not in ("invariant", "transition", "deadlock"):
        return result
    try:
        lines = explain_violation(compiled, v, source_text)
    except Exception as err:  # noqa: BLE001 (an explanation must never hide the result)
        lines = (f"(no explanation: {type(err).__name__}: {err})",)
    if not lines:
        return result
    return dataclasses.replace(result, violation=dataclasses.replace(v, explanation=lines))


def why_lines(compiled: CompiledSpec, e: ir.Expr, state: tuple, *,
              defs: Sequence[ir.DefInstance] | None = None,
              source_text: str | None = None) -> list[str]:
    """Why the closed boolean expression ``e`` has its value in ``state`` (for the
    explorer's ``why`` command)."""
    exp = Explainer(compiled, source_text, defs)
    value = exp.truth(e, state)
    tree = exp.why(e, value, state)
    text = exp.show(e)
    if tree.text == text:
        return tree.lines(1)
    return [f"  {text} is {_bool(value)}, since:"] + tree.lines(2)
