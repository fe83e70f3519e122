"""Syntax tree to typed spec: resolve every name, type every expression, make every
domain finite, and collect all the errors of a file before any engine runs.

Constants are folded here (``def Quorums = ...`` becomes one value), using the same code
generator the compiler uses, so there is one evaluator, not two.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from . import ir
from . import syntax as S
from . import types as T
from .faults import FAULT_KINDS
from .ir import ir_nodes
from .source import Diagnostic, Source, Span, SpecError
from .universe import Universe, UniverseError, iter_bits

KNOWN_OPTIONS = {"deadlock": T.BOOL, "max_faults": T.IntT(0, 1 << 30)}
BUILTINS = {"size", "subsets", "union", "min", "max", "len", "append", "head", "tail", "last",
            "put", "take", "count", "enabled"}
# The booleans and `none` as other languages spell them.
_OTHER_LITERALS = {"true": "true", "false": "false", "none": "none", "null": "none",
                   "nil": "none"}
TYPE_WORDS = {"bool", "int", "set", "map", "seq", "bag", "Message", "quiescent"}


class _Fail(Exception):  # noqa: N818 (control flow, not an error to report)
    """Abandons the current statement or declaration after recording a diagnostic."""


class _Ambiguous(Exception):  # noqa: N818 (resolved by the caller when it can)
    def __init__(self, name: str, enums: list[T.EnumT], span: Span):
        super().__init__(name)
        self.name, self.enums, self.span = name, enums, span


@dataclass
class _Scope:
    locals: dict[str, ir.Local] = field(default_factory=dict)
    state: bool = True            # may read state variables
    primes: bool = False          # may read primed variables
    init_assigned: set[str] | None = None  # in init: the variables assigned so far
    predicate: bool = False       # an invariant: may ask which actions are enabled

    def child(self, **bind: ir.Local) -> _Scope:
        return _Scope({**self.locals, **bind}, self.state, self.primes, self.init_assigned,
                      self.predicate)


def _walk_ints(node: Any):
    """Every integer literal in a syntax tree (they fix the bit offset of integer sets)."""
    if isinstance(node, S.IntLit):
        yield node.value
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from _walk_ints(x)
    elif isinstance(node, S.Node):
        for name in node.__dataclass_fields__:
            if name != "span":
                yield from _walk_ints(getattr(node, name))


def _span_ids(node: Any) -> set[int]:
    """The identities of every span in a syntax tree: a diagnostic whose span is one of
    them points into that tree's text."""
    out: set[int] = set()
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, S.Node):
            out.add(id(x.span))
            stack.extend(getattr(x, n) for n in x.__dataclass_fields__ if n != "span")
    return out


def _symbol_names(e: S.Expr | None) -> tuple[str, ...] | None:
    """The names of a set literal of plain names (``{r1, r2}``), else None."""
    if isinstance(e, S.SetLit) and e.elems and all(isinstance(x, S.Name) for x in e.elems):
        return tuple(x.id for x in e.elems)
    return None


def _describe(t: T.Type) -> str:
    """A type in words, for saying what a constant's value should be."""
    if isinstance(t, T.IntT):
        return "an integer"
    if isinstance(t, T.BoolT):
        return "a boolean"
    if isinstance(t, T.SetT) and isinstance(t.elem, T.SymT):
        return "a set of symbols"
    if isinstance(t, T.SetT) and isinstance(t.elem, T.IntT):
        return "a set of integers"
    if isinstance(t, T.SetT) and isinstance(t.elem, T.AnyT):
        return "an empty set"
    if isinstance(t, (T.EnumT, T.SymT)):
        return f"a value of {t.name}"
    return f"a {t}"


class Checker:
    def __init__(self, spec: S.Spec, source: Source | None,
                 overrides: dict[str, S.Expr] | None = None,
                 override_sources: dict[str, Source] | None = None):
        self.spec = spec
        self.source = source
        self.overrides = overrides or {}
        # The ``--const`` text each override was parsed from, to locate errors in it.
        self.override_sources = override_sources or {}
        self.diags: list[Diagnostic] = []
        self.uids = itertools.count(1)
        lows = [*_walk_ints(spec), *_walk_ints(list(self.overrides.values()))]
        self.univ = Universe(min([0, *lows]))
        self.decls: dict[str, S.Decl] = {}
        self.enums: dict[str, T.EnumT] = {}
        self.enum_literals: dict[str, list[T.EnumT]] = {}
        self.symbols: dict[str, T.SymT] = {}
        self.consts: dict[str, tuple[Any, T.Type]] = {}
        self.sym_types: dict[str, T.SymT] = {}
        self.records: dict[str, T.RecordT] = {}
        self.message: T.VariantT | None = None
        self.defs: dict[str, S.DefDecl] = {}
        self.def_cache: dict[tuple, ir.Expr | ir.DefInstance] = {}
        self.def_active: set[str] = set()
        self.instances: list[ir.DefInstance] = []
        self.vars: dict[str, ir.VarInfo] = {}
        self.type_cache: dict[int, T.Type] = {}
        # Names whose declaration was already reported as wrong: later uses stay quiet.
        self.broken: set[str] = set()
        self.resolving: set[str] = set()

    # ------------------------------------------------------------ diagnostics
    def error(self, message: str, span: Span, expected: tuple[str, ...] = (),
              notes: tuple[str, ...] = ()) -> _Fail:
        diagnostic = Diagnostic(message, span, expected=expected, notes=notes)
        if diagnostic not in self.diags:  # one mistake, one message
            self.diags.append(diagnostic)
        return _Fail()

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except _Fail:
            return None
        except _Ambiguous as amb:
            self.error(*self._ambiguous_msg(amb))
            return None

    def _ambiguous_msg(self, amb: _Ambiguous):
        names = " and ".join(e.name for e in amb.enums)
        return (f"`{amb.name}` is a value of {names}; say which with "
                f"{amb.enums[0].name}.{amb.name}", amb.span)

    def _suggest(self, name: str, candidates) -> tuple[str, ...]:
        close = difflib.get_close_matches(name, list(candidates), n=1)
        return (f"did you mean `{close[0]}`?",) if close else ()

    # ------------------------------------------------------------- top level
    def check(self) -> ir.TypedSpec:
        self._collect()
        for d in self.spec.decls:
            if isinstance(d, S.ConstDecl):
                if d.name in self.overrides:
                    self._override(d)
                else:
                    self._guard(self._const, d)
                if d.name not in self.consts:  # reported: its uses stay quiet
                    self.broken.add(d.name)
        for name in self.overrides:
            if not isinstance(self.decls.get(name), S.ConstDecl):
                self.error(f"--const {name}: the spec declares no constant {name}",
                           Span.unknown(), notes=self._suggest(name, [
                               n for n, d in self.decls.items() if isinstance(d, S.ConstDecl)]))
        for d in self.spec.decls:
            if isinstance(d, S.EnumDecl):
                t = T.EnumT(d.name, d.members)
                self.enums[d.name] = t
                if len(set(d.members)) != len(d.members):
                    self.error(f"enum {d.name} lists a value twice", d.span)
                for m in d.members:
                    if m in self.symbols or m in self.decls:
                        self.error(f"enum value `{m}` clashes with another name", d.span)
                    self.enum_literals.setdefault(m, []).append(t)
        for d in self.spec.decls:
            if isinstance(d, S.DefDecl):
                self.defs[d.name] = d
        for d in self.spec.decls:
            if isinstance(d, S.RecordDecl) and self._guard(self._record_type, d.name) is None:
                self.broken.add(d.name)
        messages = [d for d in self.spec.decls
                    if isinstance(d, S.RecordDecl) and d.kind == "message"]
        if any(m.name in self.broken for m in messages):
            self.broken.add("Message")  # its cases are incomplete: its uses stay quiet
        if messages:
            cases = tuple(self.records[m.name] for m in messages if m.name in self.records)
            self.message = T.VariantT("Message", cases)
        slot = 0
        for d in self.spec.decls:
            if isinstance(d, S.VarDecl) and self.decls.get(d.name) is d:
                t = self._guard(self.resolve_type, d.type)
                if t is not None:
                    self.vars[d.name] = ir.VarInfo(d.name, slot, t, d.span, d.durable)
                    slot += 1
                else:
                    self.broken.add(d.name)
        options = {"deadlock": True, "max_faults": None}
        symmetry: list[str] = []
        declared: dict[str, Span] = {}  # each symmetric set's first declaration
        init: tuple[ir.Stmt, ...] = ()
        actions: list[ir.Action] = []
        invariants: list[ir.Invariant] = []
        inits = [d for d in self.spec.decls if isinstance(d, S.InitDecl)]
        if not inits:
            self.error("the spec has no init block", self.spec.span or Span(1, 1))
        for d in self.spec.decls:
            if isinstance(d, S.OptionDecl):
                v = self._guard(self._option, d)
                if v is not None:
                    options[d.name] = v
            elif isinstance(d, S.SymmetryDecl):
                first = declared.get(d.name)
                if first is not None:
                    # A second copy would be permuted as a set of its own (n! times as
                    # many images to compare, for no reduction): refuse it.
                    self.error(f"`{d.name}` is already declared symmetric (at line "
                               f"{first.line}, column {first.column})", d.span,
                               notes=("declare each symmetric set once",))
                    continue
                declared[d.name] = d.span
                if d.name not in self.sym_types and d.name not in self.broken:
                    self._symmetry_target_error(d)
                symmetry.append(d.name)
            elif isinstance(d, S.InitDecl):
                if d is not inits[0]:
                    self.error("a second init block", d.span)
                    continue
                init = self._init(d)
            elif isinstance(d, S.ActionDecl):
                a = self._guard(self._action, d)
                if a is not None:
                    actions.append(a)
            elif isinstance(d, S.InvariantDecl):
                inv = self._guard(self._invariant, d)
                if inv is not None:
                    invariants.append(inv)
            elif isinstance(d, S.DefDecl) and d.params is None:
                self._guard(self._def_value, d.name, (), d.span)  # reports errors in unused defs
        if self.diags:
            # In file order, as a reader fixes them (they are found declaration kind by
            # declaration kind); those located in a --const value first.
            raise SpecError(sorted(self.diags, key=lambda d: (
                d.source is None, d.span.line, d.span.column)), self.source)
        return ir.TypedSpec(
            name=self.spec.name, constants=dict(self.consts),
            variables=tuple(self.vars.values()), init=init, actions=tuple(actions),
            invariants=tuple(invariants), defs=tuple(self.instances), options=options,
            symmetry=tuple(symmetry), message_type=self.message,
            int_base=self.univ.int_base, int_top=0)

    def _symmetry_target_error(self, d: S.SymmetryDecl) -> None:
        """Report why ``symmetry NAME`` does not name a constant set of symbols."""
        n = d.name
        expected = ("a constant set of symbols, such as `const Nodes = {n1, n2, n3}`",)
        if n not in self.decls:
            owner = self.symbols.get(n)
            if owner is not None:
                self.error(f"symmetry needs a constant set of symbols; `{n}` is a member of "
                           f"{owner.name}, not a set", d.span, expected=expected,
                           notes=(f"did you mean `symmetry {owner.name}`?",))
                return
            self.error(f"unknown name `{n}`: symmetry needs a constant set of symbols, and "
                       f"`{n}` is not declared", d.span, expected=expected,
                       notes=self._suggest(n, self.sym_types))
            return
        const = self.consts.get(n)
        if const is not None and isinstance(const[1], T.SetT) \
                and isinstance(const[1].elem, T.AnyT):
            # `{}` is not a set of symbols (no element type; `--const 'N={}'` is refused
            # too), so there is nothing to declare symmetric.
            self.error(f"symmetry needs a constant set of symbols; `{n}` is empty", d.span,
                       expected=expected, notes=(
                           "an empty set has no elements to permute (and no element type); "
                           "give it at least one symbol or remove the symmetry declaration",))
            return
        what = "a variable" if isinstance(self.decls[n], S.VarDecl) else \
            "an enum" if n in self.enums else \
            "a def (name the `const` set itself)" if isinstance(self.decls[n], S.DefDecl) else \
            _describe(const[1]) if const is not None else "not one"
        self.error(f"symmetry needs a constant set of symbols; `{n}` is {what}", d.span,
                   expected=expected)

    def _collect(self) -> None:
        for d in self.spec.decls:
            if isinstance(d, (S.InitDecl, S.SymmetryDecl, S.OptionDecl)):
                continue
            if d.name in TYPE_WORDS:
                self.error(f"`{d.name}` is a built-in name and cannot be declared", d.span)
            elif d.name in self.decls:
                prev = self.decls[d.name].span
                self.error(f"`{d.name}` is declared twice", d.span,
                           notes=(f"first declared at line {prev.line}",))
            else:
                self.decls[d.name] = d

    # -------------------------------------------------------------- constants
    def _override(self, d: S.ConstDecl) -> None:
        """A constant set with ``--const``: its errors are located in the ``--const`` text
        (not the spec) and say what kind of value the spec expects."""
        value_expr = self.overrides[d.name]
        source = self.override_sources.get(d.name)
        want = self._default_type(d)
        expectation: tuple[str, ...] = ()
        if want is not None:
            example = self._spec_text(d.default.span)
            expectation = (f"{_describe(want)} for {d.name}"
                           + (f", such as {example} (its value in the spec)" if example
                              else ""),)
        ours = _span_ids(value_expr)
        before = len(self.diags)
        self._guard(self._const, d, want, expectation)
        for i in range(before, len(self.diags)):
            diag = self.diags[i]
            if id(diag.span) not in ours:
                continue  # an error in the spec that the value led to
            self.diags[i] = replace(
                diag, expected=diag.expected or expectation,
                source=source or Source(f"--const {d.name}", ""),
                span=diag.span if source is not None else Span.unknown())

    def _default_type(self, d: S.ConstDecl) -> T.Type | None:
        """The type of the value the spec gives constant ``d`` (None: none, or it is
        wrong, which is no concern when ``--const`` replaces it)."""
        names = _symbol_names(d.default)
        if names is not None and not any(n in self.decls or n in self.consts for n in names):
            return T.SetT(T.SymT(d.name, names))
        if d.default is None:
            return None
        saved = list(self.diags), len(self.instances), dict(self.def_cache)
        try:
            return self.expr(d.default, _Scope(state=False)).t
        except (_Fail, _Ambiguous):
            return None
        finally:
            self.diags[:], self.def_cache = saved[0], saved[2]
            del self.instances[saved[1]:]

    def _spec_text(self, span: Span) -> str | None:
        """The spec's text at a one-line span, if it is short."""
        if self.source is None or span.line <= 0 or span.end_line != span.line \
                or not span.end_column:
            return None
        text = self.source.line_text(span.line)[span.column - 1:span.end_column - 1]
        return text if 0 < len(text) <= 40 else None

    def _const(self, d: S.ConstDecl, want: T.Type | None = None,
               expectation: tuple[str, ...] = ()) -> None:
        """Gives constant ``d`` its value; ``want``: the type an ``--const`` value must
        have (the type of the spec's own value)."""
        value_expr = self.overrides.get(d.name, d.default)
        if value_expr is None:
            raise self.error(f"constant {d.name} has no value: give one with --const "
                             f"{d.name}=VALUE", d.span)
        names = _symbol_names(value_expr)
        if names is not None and not any(n in self.decls or n in self.consts for n in names):
            seen: dict[str, S.Expr] = {}
            for e in value_expr.elems:
                if e.id in seen:
                    raise self.error(f"constant {d.name} lists the symbol `{e.id}` twice",
                                     e.span, notes=(
                                         f"first listed at column {seen[e.id].span.column}; "
                                         "each symbol is a different value, so list each "
                                         "once",))
                seen[e.id] = e
            t = T.SymT(d.name, names)
            self._check_kind(d.name, want, T.SetT(t), value_expr.span, expectation)
            for e in value_expr.elems:
                owner = self.symbols[e.id].name if e.id in self.symbols else \
                    self._claimed_elsewhere(e.id, d) if d.name in self.overrides else None
                if owner is not None:
                    raise self.error(f"symbol `{e.id}` is already a member of {owner}",
                                     e.span)
            for n in names:
                self.symbols[n] = t
            self.sym_types[d.name] = t
            self.consts[d.name] = ((1 << len(names)) - 1, T.SetT(t))
            return
        e = self.expr(value_expr, _Scope(state=False))
        self._check_kind(d.name, want, e.t, value_expr.span, expectation)
        self.consts[d.name] = (self.evaluate(e), e.t)

    def _claimed_elsewhere(self, symbol: str, d: S.ConstDecl) -> str | None:
        """The enum or other constant whose values (in the spec or from ``--const``)
        include ``symbol``: an ``--const`` value taking it would make that declaration,
        which is right, the one reported."""
        for other in self.spec.decls:
            if isinstance(other, S.EnumDecl) and symbol in other.members:
                return other.name
            if isinstance(other, S.ConstDecl) and other.name != d.name and \
                    symbol in (_symbol_names(self.overrides.get(other.name, other.default))
                               or ()):
                return other.name
        return None

    def _check_kind(self, name: str, want: T.Type | None, got: T.Type, span: Span,
                    expectation: tuple[str, ...]) -> None:
        """An ``--const`` value must be the same kind of value as the spec's: the spec
        was written for that kind, and would otherwise fail where the constant is used."""
        if want is None:
            return
        if isinstance(want, T.SetT) and isinstance(want.elem, T.SymT):
            ok = isinstance(got, T.SetT) and isinstance(got.elem, T.SymT)
        else:
            ok = T.join(want, got) is not None
        if not ok:
            raise self.error(f"wrong kind of value for {name}: this is {_describe(got)}, "
                             f"but {name} is {_describe(want)}", span, expected=expectation)

    def evaluate(self, e: ir.Expr) -> Any:
        from .codegen import evaluate_constant

        try:
            return evaluate_constant(e, self.univ, self.instances)
        except Exception as err:  # a constant that fails to evaluate is a spec error
            raise self.error(f"cannot evaluate this constant: {err}", e.span) from None

    def const_int(self, e: S.Expr) -> int:
        x = self.expr(e, _Scope(state=False))
        if not isinstance(x.t, T.IntT):
            raise self.error(f"expected an integer constant, found a {x.t}", e.span)
        if not self._is_constant(x):
            raise self.error("expected a constant: this depends on the state", e.span)
        return self.evaluate(x)

    # ------------------------------------------------------------------ types
    def resolve_type(self, e: S.Expr) -> T.Type:
        if isinstance(e, S.Name):
            return self._named_type(e)
        if isinstance(e, S.Binary) and e.op == "..":
            lo, hi = self.const_int(e.left), self.const_int(e.right)
            if lo > hi:
                raise self.error(f"empty range {lo}..{hi}", e.span)
            return T.IntT(lo, hi)
        if isinstance(e, S.Optional):
            inner = self.resolve_type(e.inner)
            if isinstance(inner, T.OptionT):
                raise self.error("an option of an option is not allowed", e.span)
            return T.OptionT(inner)
        if isinstance(e, S.Index) and isinstance(e.base, S.Name):
            kind, args = e.base.id, e.args
            if kind == "set" and len(args) == 1:
                return self._finite(T.SetT(self.resolve_type(args[0])), e.span)
            if kind == "map" and len(args) == 2:
                return self._finite(T.MapT(self.resolve_type(args[0]),
                                           self.resolve_type(args[1])), e.span)
            if kind == "bag" and len(args) == 2:
                cap = self.const_int(args[1])
                if cap < 1:
                    raise self.error("a bag bound must be 1 or more", args[1].span)
                return self._finite(T.BagT(self.resolve_type(args[0]), cap), e.span)
            if kind == "seq" and len(args) == 2:
                cap = self.const_int(args[1])
                if cap < 0:
                    raise self.error("a sequence bound must be 0 or more", args[1].span)
                return T.SeqT(self.resolve_type(args[0]), cap)
            if kind in ("set", "map", "seq", "bag"):
                want = {"set": "set[T]", "map": "map[K, V]", "seq": "seq[T, N]",
                        "bag": "bag[T, N]"}[kind]
                raise self.error(f"wrong number of type arguments: write {want}", e.span)
        raise self.error("expected a type", e.span,
                         expected=("bool", "lo..hi", "an enum, record or constant set",
                                   "set[T]", "map[K, V]", "seq[T, N]", "bag[T, N]", "T?"))

    def _finite(self, t: T.Type, span: Span) -> T.Type:
        try:
            n = self.univ.size(t)
        except UniverseError as err:
            raise self.error(str(err), span) from None
        if isinstance(t, T.SetT) and self.univ.bits(t.elem) > 1 << 16:
            raise self.error(f"{t} is too large to represent ({self.univ.bits(t.elem)} "
                             "possible elements)", span)
        del n
        return t

    def _named_type(self, e: S.Name) -> T.Type:
        n = e.id
        if n in self.broken and not isinstance(self.decls.get(n), S.VarDecl):
            raise _Fail()  # a constant, record or Message whose declaration is wrong
        if n == "bool":
            return T.BOOL
        if n == "int":
            raise self.error("`int` is unbounded: every variable needs a finite type; "
                             "use a range such as 0..N", e.span)
        if n == "Message":
            if self.message is None:
                raise self.error("`Message` names the messages, but the spec declares none",
                                 e.span)
            return self.message
        if n in self.enums:
            return self.enums[n]
        if n in self.sym_types:
            return self.sym_types[n]
        if n in self.records:
            return self.records[n]
        d = self.decls.get(n)
        if isinstance(d, S.RecordDecl):
            return self._record_type(n)
        if isinstance(d, (S.DefDecl, S.ConstDecl)):
            value_ir = self._name_value(e, _Scope(state=False))
            if isinstance(value_ir.t, T.SetT) and self._is_constant(value_ir):
                return self._set_as_type(n, self.evaluate(value_ir), value_ir.t.elem, e.span)
            raise self.error(f"`{n}` is not a type (it is not a constant set)", e.span)
        if isinstance(d, S.VarDecl):
            raise self.error(f"`{n}` is a variable, not a type", e.span)
        if n in ("Nat", "Int", "Integer", "nat", "integer", "Natural"):
            raise self.error(f"unknown type `{n}`: every variable needs a finite type", e.span,
                             notes=("use a range such as 0..N",))
        raise self.error(f"unknown type `{n}`", e.span,
                         notes=self._suggest(n, [*self.enums, *self.sym_types, *self.records,
                                                 *self.defs, "bool"]))

    def _set_as_type(self, name: str, mask: int, elem: T.Type, span: Span) -> T.Type:
        what = f"`{name}`" if name.isidentifier() else name
        members = [self.univ.at_bit(elem, b) for b in iter_bits(mask)]
        if isinstance(elem, T.IntT):
            if not members:
                raise self.error(f"{what} is empty, so it cannot be a type", span)
            lo, hi = min(members), max(members)
            if len(members) != hi - lo + 1:
                raise self.error(f"{what} is not a contiguous range, so it cannot be a type",
                                 span)
            return T.IntT(lo, hi)
        if isinstance(elem, (T.EnumT, T.SymT, T.BoolT)):
            if len(members) == self.univ.size(elem):
                return elem
            raise self.error(f"{what} is a proper subset of {elem}; only whole sets can "
                             "be types", span)
        raise self.error(f"{what} cannot be used as a type", span)

    def _record_type(self, name: str) -> T.RecordT:
        if name in self.records:
            return self.records[name]
        if name in self.broken:
            raise _Fail()
        d = self.decls[name]
        assert isinstance(d, S.RecordDecl)
        if name in self.resolving:
            raise self.error(f"{d.kind} {name} contains itself", d.span)
        self.resolving.add(name)
        try:
            fields = []
            for f in d.fields:
                if any(f.name == g for g, _ in fields):
                    raise self.error(f"field `{f.name}` appears twice in {name}", f.span)
                fields.append((f.name, self.resolve_type(f.type)))
            t = T.RecordT(name, tuple(fields))
            self.records[name] = t
            return t
        finally:
            self.resolving.discard(name)

    # --------------------------------------------------------- declarations
    def _option(self, d: S.OptionDecl):
        if d.name not in KNOWN_OPTIONS:
            raise self.error(f"unknown option `{d.name}`", d.span,
                             expected=tuple(sorted(KNOWN_OPTIONS)))
        e = self.expr(d.value, _Scope(state=False))
        self.coerce(e, KNOWN_OPTIONS[d.name], f"option {d.name}")
        return self.evaluate(e)

    def _init(self, d: S.InitDecl) -> tuple[ir.Stmt, ...]:
        scope = _Scope(init_assigned=set())
        body, assigned = self.block(d.body, scope, set())
        missing = [v for v in self.vars if v not in assigned]
        if missing and not self.diags:
            self.error("init does not give every variable a value: "
                       + ", ".join(missing) + (" is" if len(missing) == 1 else " are")
                       + " not assigned on every path", d.span)
        return body

    def _action(self, d: S.ActionDecl) -> ir.Action:
        scope = _Scope()
        params: list[ir.Binding] = []
        for b in d.params:
            for binding in self.binder(b, scope):
                params.append(binding)
                scope = scope.child(**{binding.local.name: binding.local})
        body, _ = self.block(d.body, scope, None)
        if d.fault_kind is not None and d.fault_kind not in FAULT_KINDS:
            raise self.error(f"unknown fault kind `{d.fault_kind}`", d.fault_kind_span,
                             expected=FAULT_KINDS)
        if d.fault_kind == "crash":
            self._check_crash_keeps_durable(d.name, body)
        return ir.Action(d.name, tuple(params), body, d.fault, d.span, d.fault_kind)

    def _check_crash_keeps_durable(self, action: str, body: tuple[ir.Stmt, ...]) -> None:
        """A crash loses volatile state only: the point of declaring a variable durable."""
        for node in ir_nodes(body):
            if isinstance(node, ir.Assign) and self.vars[node.var.name].durable:
                self.error(f"`{action}` is a crash fault and `{node.var.name}` is declared "
                           "durable: a crash cannot change durable state", node.span,
                           notes=("a crash loses only volatile variables; change the variable "
                                  "in a restart action, or do not declare it durable",))

    def _invariant(self, d: S.InvariantDecl) -> ir.Invariant:
        e = self.expr(d.body, _Scope(primes=d.transition, predicate=True))
        self.coerce(e, T.BOOL, f"invariant {d.name}")
        if d.transition and d.lemma:
            raise self.error("a lemma is a state predicate; it cannot be a transition "
                             "invariant", d.span)
        return ir.Invariant(d.name, e, d.transition, d.span, d.lemma)

    # ------------------------------------------------------------- statements
    def block(self, stmts, scope: _Scope, assigned: set[str] | None):
        """Check a block; returns the typed statements and (in init) what it assigns."""
        out: list[ir.Stmt] = []
        for st in stmts:
            try:
                typed, scope, assigned = self.stmt(st, scope, assigned)
                out.append(typed)
            except _Fail:
                pass
            except _Ambiguous as amb:
                self.error(*self._ambiguous_msg(amb))
        return tuple(out), assigned

    def stmt(self, st: S.Stmt, scope: _Scope, assigned):
        if isinstance(st, S.Require):
            c = self.expr(st.cond, scope)
            self.coerce(c, T.BOOL, "require")
            return ir.Require(c, st.span), scope, assigned
        if isinstance(st, S.Skip):
            return ir.Require(ir.Const(True, T.BOOL), st.span), scope, assigned
        if isinstance(st, S.Let):
            if st.name in self.vars or st.name in self.consts:
                # (as a bound name: a let that hid a variable made `count = ...` after it
                # an error and `count` a different value than the state's)
                raise self.error(f"`let {st.name}` hides a "
                                 f"{'variable' if st.name in self.vars else 'constant'} of "
                                 "the same name", st.span,
                                 notes=("choose another name for the local value",))
            try:
                v = self.expr(st.value, scope)
            except (_Fail, _Ambiguous) as failure:
                if isinstance(failure, _Ambiguous):
                    self.error(*self._ambiguous_msg(failure))
                poisoned = ir.Local(st.name, next(self.uids), T.ANY, st.span)
                return ir.Let(poisoned, ir.Const(None, T.ANY), st.span), \
                    scope.child(**{st.name: poisoned}), assigned
            if T.contains_any(v.t):
                raise self.error(f"cannot tell the type of `{st.name}` from its value", st.span)
            local = ir.Local(st.name, next(self.uids), v.t, st.span)
            return ir.Let(local, v, st.span), scope.child(**{st.name: local}), assigned
        if isinstance(st, S.Assign):
            typed = self.assign(st, scope)
            if assigned is not None:
                if typed.path and typed.var.name not in assigned:
                    raise self.error(f"`{typed.var.name}` is updated in part before it has a "
                                     "value", st.span)
                assigned = assigned | {typed.var.name}
                scope = _Scope(scope.locals, scope.state, scope.primes, assigned)
            return typed, scope, assigned
        if isinstance(st, S.If):
            branches = []
            results = []
            for cond, body in st.branches:
                c = self.expr(cond, scope)
                self.coerce(c, T.BOOL, "if")
                b, a = self.block(body, scope, assigned)
                branches.append((c, b))
                results.append(a)
            orelse, a = self.block(st.orelse or (), scope, assigned)
            results.append(a)
            return ir.If(tuple(branches), orelse, st.span), scope, self._meet(results, scope)
        if isinstance(st, S.Either):
            branches, results = [], []
            for body in st.branches:
                b, a = self.block(body, scope, assigned)
                branches.append(b)
                results.append(a)
            return ir.Either(tuple(branches), st.span), scope, self._meet(results, scope)
        if isinstance(st, S.Choose):
            inner = scope
            bindings = []
            for b in st.binders:
                for binding in self.binder(b, inner):
                    bindings.append(binding)
                    inner = inner.child(**{binding.local.name: binding.local})
            cond = None
            if st.cond is not None:
                cond = self.expr(st.cond, inner)
                self.coerce(cond, T.BOOL, "where")
            body, a = self.block(st.body, inner, assigned)
            if a is not None:
                scope = _Scope(scope.locals, scope.state, scope.primes, a)
            return ir.Choose(tuple(bindings), cond, body, st.span), scope, a
        raise self.error("unsupported statement", st.span)

    @staticmethod
    def _meet(results, scope):
        if results[0] is None:
            return None
        out = set(results[0])
        for r in results[1:]:
            out &= r
        scope.init_assigned = out
        return out

    def assign(self, st: S.Assign, scope: _Scope) -> ir.Assign:
        steps: list[S.Expr] = []
        target = st.target
        while isinstance(target, (S.Index, S.Field)):
            steps.append(target)
            target = target.base
        if isinstance(target, S.Prime):
            raise self.error(f"cannot assign to `{target.name}'`: actions assign plain names; "
                             "the new value is the one after the step", target.span)
        if not isinstance(target, S.Name):
            raise self.error("cannot assign to this: expected a variable, `v[key]` or "
                             "`v.field`", st.target.span)
        if target.id in scope.locals:
            raise self.error(f"cannot assign to `{target.id}`: it is a bound name, not a "
                             "state variable", target.span)
        if target.id in self.broken:
            raise _Fail()
        info = self.vars.get(target.id)
        if info is None:
            what = "a constant" if target.id in self.consts else "not a variable"
            raise self.error(f"cannot assign to `{target.id}`: it is {what}", target.span,
                             notes=self._suggest(target.id, self.vars))
        var = ir.Var(info.name, info.slot, info.t, span=target.span)
        path: list[ir.PathStep] = []
        cur = info.t
        for s in reversed(steps):
            if isinstance(s, S.Index):
                if len(s.args) != 1:
                    raise self.error("expected one index", s.span)
                if isinstance(cur, T.MapT):
                    key = self.key_expr(s.args[0], cur.key, scope)
                    path.append(ir.PathStep("index", key, None, cur))
                    cur = cur.value
                elif isinstance(cur, T.SeqT):
                    key = self.expr(s.args[0], scope)
                    self.coerce(key, T.IntT(1, max(1, cur.capacity)), "a sequence index")
                    path.append(ir.PathStep("index", key, None, cur))
                    cur = cur.elem
                else:
                    raise self.error(f"cannot index a {cur}", s.span)
            else:
                assert isinstance(s, S.Field)
                if not isinstance(cur, T.RecordT) or cur.field_index(s.name) is None:
                    raise self.error(f"{cur} has no field `{s.name}` to assign", s.span)
                path.append(ir.PathStep("field", None, s.name, cur))
                cur = dict(cur.fields)[s.name]
        what = f"`{info.name}`" if not path else "this element of " + f"`{info.name}`"
        value = self.coerce(self.expr(st.value, scope, cur), cur, what)
        return ir.Assign(var, tuple(path), value, st.span)

    def key_expr(self, e: S.Expr, key_t: T.Type, scope: _Scope) -> ir.Expr:
        k = self.expr(e, scope, key_t)
        return self.coerce(k, key_t, "a map key")

    # ------------------------------------------------------------ expressions
    def coerce(self, e: ir.Expr, target: T.Type, what: str) -> ir.Expr:
        ok = T.fits(e.t, target)
        if ok is True:
            return e
        if ok is None:
            return ir.Convert(e, target, what, e.span)
        raise self.error(f"type mismatch for {what}: expected {target}, found {e.t}", e.span)

    def _is_constant(self, e: ir.Expr) -> bool:
        return ir.is_constant(e, self.instances)

    def binder(self, b: S.Binder, scope: _Scope) -> list[ir.Binding]:
        dom = self.expr(b.domain, scope)
        if not isinstance(dom.t, (T.SetT, T.BagT)):
            raise self.error(f"expected a set to range over, found a {dom.t}", b.domain.span)
        elem = dom.t.elem
        if isinstance(elem, T.AnyT):
            raise self.error("cannot range over an empty set of unknown type", b.domain.span)
        if isinstance(elem, T.IntT) and self._is_constant(dom):
            bits = list(iter_bits(self.evaluate(dom)))
            if bits:
                elem = T.IntT(bits[0] + self.univ.int_base, bits[-1] + self.univ.int_base)
        out = []
        for n in b.names:
            if n in self.vars or n in self.consts:
                raise self.error(f"`{n}` hides a {'variable' if n in self.vars else 'constant'}"
                                 " of the same name", b.span)
            out.append(ir.Binding(ir.Local(n, next(self.uids), elem, b.span), dom))
        return out

    def expr(self, e: S.Expr, scope: _Scope, expected: T.Type | None = None) -> ir.Expr:
        method = getattr(self, "_e_" + type(e).__name__, None)
        if method is None:
            raise self.error("this is not an expression", e.span)
        return method(e, scope, expected)

    def _e_IntLit(self, e: S.IntLit, scope, expected):
        return ir.Const(e.value, T.IntT(e.value, e.value), e.span)

    def _e_BoolLit(self, e: S.BoolLit, scope, expected):
        return ir.Const(e.value, T.BOOL, e.span)

    def _e_NoneLit(self, e: S.NoneLit, scope, expected):
        t = expected if isinstance(expected, T.OptionT) else T.OptionT(T.ANY)
        return ir.Const(None, t, e.span)

    def _e_Name(self, e: S.Name, scope, expected):
        return self._name_value(e, scope, expected)

    def _name_value(self, e: S.Name, scope: _Scope, expected: T.Type | None = None) -> ir.Expr:
        n = e.id
        if n in scope.locals:
            loc = scope.locals[n]
            if isinstance(loc.t, T.AnyT):  # a let whose value was already reported
                raise _Fail()
            return ir.Local(loc.name, loc.uid, loc.t, e.span)
        if n in self.broken:
            raise _Fail()
        if n in self.vars:
            info = self.vars[n]
            if not scope.state:
                raise self.error(f"a constant cannot depend on the variable `{n}`", e.span)
            if scope.init_assigned is not None and n not in scope.init_assigned:
                raise self.error(f"`{n}` is read in init before it is assigned", e.span)
            return ir.Var(n, info.slot, info.t, span=e.span)
        if n in self.enum_literals:
            cands = self.enum_literals[n]
            want = expected.inner if isinstance(expected, T.OptionT) else expected
            chosen = [t for t in cands if t == want] or (cands if len(cands) == 1 else [])
            if not chosen:
                raise _Ambiguous(n, cands, e.span)
            t = chosen[0]
            return ir.Const(t.members.index(n), t, e.span)
        if n in self.symbols:
            t = self.symbols[n]
            return ir.Const(t.members.index(n), t, e.span)
        if n in self.consts:
            value, t = self.consts[n]
            return ir.Const(value, t, e.span)
        if n in self.enums:
            t = self.enums[n]
            return ir.Const((1 << len(t.members)) - 1, T.SetT(t), e.span)
        if n in self.defs:
            d = self.defs[n]
            if d.params:
                raise self.error(f"`{n}` takes {len(d.params)} argument(s)", e.span)
            return self._def_value(n, (), e.span)
        if n in self.records and n in self._message_names():
            return self._construct(n, (), e.span, scope)
        if isinstance(self.decls.get(n), S.RecordDecl):
            return self._construct(n, (), e.span, scope)
        if isinstance(self.decls.get(n), S.ConstDecl):
            raise self.error(f"constant `{n}` has no value", e.span)
        if n == "bool":
            return ir.Const(3, T.SetT(T.BOOL), e.span)
        if n == "faults_taken":
            if not scope.predicate or scope.primes:
                raise self.error("`faults_taken` can only be used in state invariants (and "
                                 "lemmas)", e.span)
            # (the budget is known when the spec is compiled: --max-faults may change it)
            return ir.FaultsTaken(len(self.vars), T.IntT(0, 1 << 30), e.span)
        if n == "quiescent":
            return ir.Unop("not", self._enabled(
                [a.name for a in self._action_decls() if not a.fault], e.span, scope), T.BOOL,
                e.span)
        if n.lower() in _OTHER_LITERALS:
            raise self.error(f"unknown name `{n}`", e.span,
                             notes=(f"did you mean `{_OTHER_LITERALS[n.lower()]}`?",))
        raise self.error(f"unknown name `{n}`", e.span,
                         notes=self._suggest(n, [*scope.locals, *self.vars, *self.consts,
                                                 *self.defs, *self.symbols,
                                                 *self.enum_literals]))

    def _action_decls(self) -> list[S.ActionDecl]:
        return [d for d in self.spec.decls if isinstance(d, S.ActionDecl)]

    def _enabled(self, names: list[str], span: Span, scope: _Scope) -> ir.Expr:
        if not scope.predicate:
            raise self.error("`enabled` and `quiescent` can only be used in invariants", span)
        actions = self._action_decls()
        index = {a.name: i for i, a in enumerate(actions)}
        for n in names:
            if n not in index:
                raise self.error(f"`{n}` is not an action", span,
                                 notes=self._suggest(n, list(index)))
        return ir.Enabled(tuple(index[n] for n in names), T.BOOL, span)

    def _message_names(self):
        return [c.name for c in self.message.cases] if self.message else []

    def _e_Unary(self, e: S.Unary, scope, expected):
        a = self.expr(e.operand, scope)
        if e.op == "not":
            self.coerce(a, T.BOOL, "`not`")
            return ir.Unop("not", a, T.BOOL, e.span)
        if not isinstance(a.t, T.IntT):
            raise self.error(f"unary minus needs an integer, found {a.t}", e.span)
        return ir.Unop("neg", a, T.IntT(-a.t.hi, -a.t.lo), e.span)

    def _pair(self, e: S.Binary, scope, left_hint=None):
        """Type both sides of a binary operator, letting either side resolve the other."""
        try:
            left = self.expr(e.left, scope, left_hint)
        except _Ambiguous:
            right = self.expr(e.right, scope)
            return self.expr(e.left, scope, right.t), right
        return left, self.expr(e.right, scope, left.t)

    def _e_Binary(self, e: S.Binary, scope, expected):
        op = e.op
        if op in ("and", "or", "implies", "iff"):
            left = self.coerce(self.expr(e.left, scope), T.BOOL, f"`{op}`")
            right = self.coerce(self.expr(e.right, scope), T.BOOL, f"`{op}`")
            return ir.Binop(op, left, right, T.BOOL, e.span)
        if op in ("in", "notin"):
            try:
                left = self.expr(e.left, scope)
                right = self.expr(e.right, scope, T.SetT(left.t))
            except _Ambiguous:
                right = self.expr(e.right, scope)
                elem = right.t.elem if isinstance(right.t, T.SetT) else None
                left = self.expr(e.left, scope, elem)
            if not isinstance(right.t, (T.SetT, T.BagT)):
                raise self.error(f"`in` needs a set on its right, found {right.t}", e.right.span)
            if T.join(left.t, right.t.elem) is None:
                raise self.error(f"`{left.t}` values are never in a {right.t}", e.span)
            if _has_map(right.t.elem) and left.t != right.t.elem:
                left = self.coerce(left, right.t.elem, "an element")
            return ir.Binop(op, left, right, T.BOOL, e.span)
        if op in ("==", "!="):
            left, right = self._pair(e, scope)
            joined = T.join(left.t, right.t)
            if joined is None:
                raise self.error(f"cannot compare {left.t} with {right.t}", e.span)
            left, right = self._same_representation(left, right, joined)
            return ir.Binop("eq" if op == "==" else "ne", left, right, T.BOOL, e.span)
        left, right = self._pair(e, scope)
        lt, rt = left.t, right.t
        if op in ("<", "<=", ">", ">="):
            names = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
            if isinstance(lt, T.IntT) and isinstance(rt, T.IntT):
                return ir.Binop(names[op], left, right, T.BOOL, e.span)
            if isinstance(lt, T.SetT) and isinstance(rt, T.SetT) and T.join(lt, rt):
                return ir.Binop({"<": "subset", "<=": "subseteq", ">": "supset",
                                 ">=": "supseteq"}[op], left, right, T.BOOL, e.span)
            raise self.error(f"`{op}` compares integers or sets, not {lt} and {rt}", e.span)
        if op in ("|", "&") or (op == "-" and isinstance(lt, T.SetT)):
            if not (isinstance(lt, T.SetT) and isinstance(rt, T.SetT)):
                raise self.error(f"`{op}` needs two sets, found {lt} and {rt}", e.span)
            t = T.join(lt, rt)
            if t is None:
                raise self.error(f"cannot combine a {lt} with a {rt}", e.span)
            if op == "&":
                t = lt if not isinstance(lt.elem, T.AnyT) else rt
            elif op == "-":
                t = lt
            return ir.Binop({"|": "union", "&": "inter", "-": "diff"}[op], left, right, t,
                            e.span)
        if op == "..":
            self._ints(left, right, op, e.span)
            return ir.Binop("range", left, right, T.SetT(T.IntT(left.t.lo, right.t.hi)), e.span)
        if op in ("+", "-", "*", "/", "%"):
            self._ints(left, right, op, e.span)
            return ir.Binop({"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}[op],
                            left, right, _interval(op, lt, rt), e.span)
        raise self.error(f"unknown operator {op}", e.span)

    def _same_representation(self, left: ir.Expr, right: ir.Expr, joined: T.Type):
        """Maps of different value types are packed differently: compare (or test
        membership of) such values after converting both to the joined type."""
        if _has_map(joined):
            if left.t != joined:
                left = self.coerce(left, joined, "a compared value")
            if right.t != joined:
                right = self.coerce(right, joined, "a compared value")
        return left, right

    def _ints(self, left, right, op, span):
        if not (isinstance(left.t, T.IntT) and isinstance(right.t, T.IntT)):
            raise self.error(f"`{op}` needs integers, found {left.t} and {right.t}", span)

    def _e_Is(self, e: S.Is, scope, expected):
        v = self.expr(e.value, scope)
        if not isinstance(v.t, T.VariantT):
            raise self.error(f"`is` tests which message a value is; this is a {v.t}", e.span)
        c = v.t.case_index(e.tag)
        if c is None and e.tag in self.broken:
            raise _Fail()
        if c is None:
            raise self.error(f"`{e.tag}` is not a kind of {v.t}", e.span,
                             notes=self._suggest(e.tag, [x.name for x in v.t.cases]))
        return ir.IsTag(v, c, T.BOOL, e.span)

    def _e_Field(self, e: S.Field, scope, expected):
        if isinstance(e.base, S.Name) and e.base.id in self.enums and e.base.id not in scope.locals:
            t = self.enums[e.base.id]
            if e.name not in t.members:
                raise self.error(f"{t.name} has no value `{e.name}`", e.span,
                                 notes=self._suggest(e.name, t.members))
            return ir.Const(t.members.index(e.name), t, e.span)
        base = self.expr(e.base, scope)
        t = base.t
        if isinstance(t, T.RecordT):
            i = t.field_index(e.name)
            if i is None:
                raise self.error(f"{t} has no field `{e.name}`", e.span,
                                 notes=self._suggest(e.name, [f for f, _ in t.fields]))
            return ir.GetField(base, e.name, t.fields[i][1], e.span)
        if isinstance(t, T.VariantT):
            ft = None
            for case in t.cases:
                i = case.field_index(e.name)
                if i is not None:
                    j = T.join(ft, case.fields[i][1]) if ft is not None else case.fields[i][1]
                    if j is None:
                        raise self.error(f"field `{e.name}` has different types in different "
                                         "messages", e.span)
                    ft = j
            if ft is None and "Message" in self.broken:
                raise _Fail()  # perhaps a field of a message whose declaration is wrong
            if ft is None:
                raise self.error(f"no message has a field `{e.name}`", e.span)
            return ir.GetField(base, e.name, ft, e.span)
        raise self.error(f"a {t} has no fields", e.span)

    def _e_Index(self, e: S.Index, scope, expected):
        base = self.expr(e.base, scope)
        if len(e.args) != 1:
            raise self.error("expected one index", e.span)
        if isinstance(base.t, T.SeqT) and isinstance(e.args[0], S.Binary) and \
                e.args[0].op == "..":
            lo, hi = (self.expr(x, scope) for x in (e.args[0].left, e.args[0].right))
            self._ints(lo, hi, "..", e.args[0].span)
            return ir.Builtin("slice", (base, lo, hi), base.t, e.span)
        if isinstance(base.t, T.MapT):
            key = self.key_expr(e.args[0], base.t.key, scope)
            return ir.GetIndex(base, key, base.t.value, e.span)
        if isinstance(base.t, T.SeqT):
            key = self.expr(e.args[0], scope)
            if not isinstance(key.t, T.IntT):
                raise self.error("a sequence index is an integer", e.args[0].span)
            return ir.GetIndex(base, key, base.t.elem, e.span)
        raise self.error(f"cannot index a {base.t}", e.span)

    def _e_Prime(self, e: S.Prime, scope, expected):
        if not scope.primes:
            raise self.error(f"`{e.name}'` (a primed name) is only allowed in a "
                             "`transition invariant`", e.span)
        info = self.vars.get(e.name)
        if info is None:
            raise self.error(f"`{e.name}` is not a variable, so it has no primed value", e.span)
        return ir.Var(info.name, info.slot, info.t, True, e.span)

    def _e_Optional(self, e, scope, expected):
        raise self.error("`T?` is a type, not a value", e.span)

    def _e_IfExpr(self, e: S.IfExpr, scope, expected):
        c = self.coerce(self.expr(e.cond, scope), T.BOOL, "if")
        a = self.expr(e.then, scope, expected)
        b = self.expr(e.orelse, scope, a.t)
        t = T.join(a.t, b.t)
        if t is None:
            raise self.error(f"the two branches have different types: {a.t} and {b.t}", e.span)
        return ir.IfExpr(c, a, b, t, e.span)

    def _e_SetLit(self, e: S.SetLit, scope, expected):
        hint = expected.elem if isinstance(expected, T.SetT) else None
        elems = [self.expr(x, scope, hint) for x in e.elems]
        t: T.Type = hint if (hint is not None and not elems) else T.ANY
        for x in elems:
            j = T.join(t, x.t)
            if j is None:
                raise self.error(f"a set cannot hold both {t} and {x.t}", x.span)
            t = j
        self._check_elem(t, e.span)
        return ir.SetLit(tuple(elems), T.SetT(t), e.span)

    def _check_elem(self, t: T.Type, span: Span) -> None:
        if isinstance(t, T.IntT) and t.lo < self.univ.int_base:
            raise self.error(f"integers below {self.univ.int_base} cannot be set elements "
                             f"(this set's elements reach {t.lo})", span)

    def _e_SeqLit(self, e: S.SeqLit, scope, expected):
        hint = expected.elem if isinstance(expected, T.SeqT) else None
        elems = [self.expr(x, scope, hint) for x in e.elems]
        t: T.Type = hint or T.ANY
        for x in elems:
            j = T.join(t, x.t)
            if j is None:
                raise self.error(f"a sequence cannot hold both {t} and {x.t}", x.span)
            t = j
        return ir.SeqLit(tuple(elems), T.SeqT(t, len(elems)), e.span)

    def _e_MapLit(self, e: S.MapLit, scope, expected):
        keys = [self.expr(k, scope, expected.key if isinstance(expected, T.MapT) else None)
                for k, _ in e.pairs]
        kt: T.Type = T.ANY
        for k in keys:
            if not self._is_constant(k):
                raise self.error("map keys in a literal must be constants", k.span)
            kt = T.join(kt, k.t) or kt
        if isinstance(expected, T.MapT):
            kt = expected.key
        try:
            positions = [self.univ.index(kt, self.evaluate(self.coerce(k, kt, "a key")))
                         for k in keys]
            size = self.univ.size(kt)
        except UniverseError as err:
            raise self.error(str(err), e.span) from None
        if sorted(positions) != list(range(size)):
            raise self.error(f"a map literal must give exactly one value for each of the "
                             f"{size} keys of {kt}", e.span)
        hint = expected.value if isinstance(expected, T.MapT) else None
        values = [self.expr(v, scope, hint) for _, v in e.pairs]
        vt: T.Type = T.ANY
        for v in values:
            vt = T.join(vt, v.t) or vt
        if hint is not None and T.fits(vt, hint) is not False:
            vt = hint
        values = [self.coerce(v, vt, "a map value") for v in values]
        ordered = tuple(v for _, v in sorted(zip(positions, values), key=lambda p: p[0]))
        return ir.MapLit(ordered, T.MapT(kt, vt), e.span)

    def _bindings(self, binders, scope):
        bindings = []
        for b in binders:
            for binding in self.binder(b, scope):
                bindings.append(binding)
                scope = scope.child(**{binding.local.name: binding.local})
        return tuple(bindings), scope

    def _e_Quant(self, e: S.Quant, scope, expected):
        bindings, inner = self._bindings(e.binders, scope)
        body = self.coerce(self.expr(e.body, inner), T.BOOL, e.kind)
        return ir.Quant(e.kind, bindings, body, T.BOOL, e.span)

    def _e_SetFilter(self, e: S.SetFilter, scope, expected):
        (binding,), inner = self._bindings((S.Binder((e.name,), e.domain, e.span),), scope)
        cond = self.coerce(self.expr(e.cond, inner), T.BOOL, "where")
        return ir.SetFilter(binding, cond, T.SetT(binding.local.t) if isinstance(
            binding.domain.t, T.BagT) else binding.domain.t, e.span)

    def _e_SetMap(self, e: S.SetMap, scope, expected):
        bindings, inner = self._bindings(e.binders, scope)
        cond = None
        if e.cond is not None:
            cond = self.coerce(self.expr(e.cond, inner), T.BOOL, "where")
        hint = expected.elem if isinstance(expected, T.SetT) else None
        elem = self.expr(e.elem, inner, hint)
        self._check_elem(elem.t, e.span)
        return ir.SetMap(elem, bindings, cond, T.SetT(elem.t), e.span)

    def _e_MapComp(self, e: S.MapComp, scope, expected):
        if e.cond is not None:
            raise self.error("a map gives a value for every key of its key type, so a map "
                             "comprehension takes no `where`", e.cond.span)
        if len(e.binders) != 1 or len(e.binders[0].names) != 1:
            raise self.error("a map comprehension binds one name: {k: v for k in S}", e.span)
        (binding,), inner = self._bindings(e.binders, scope)
        if not (isinstance(e.key, S.Name) and e.key.id == binding.local.name):
            raise self.error("the key of a map comprehension must be its bound name", e.key.span)
        dom = binding.domain
        if not self._is_constant(dom):
            raise self.error("a map comprehension must range over a constant set (maps are "
                             "total over their key type)", dom.span)
        key_t = self._set_as_type("the domain of a map comprehension", self.evaluate(dom),
                                  dom.t.elem, dom.span)
        if isinstance(expected, T.MapT) and expected.key != key_t:
            raise self.error(f"this map's keys are {key_t}, but {expected.key} is expected",
                             dom.span)
        hint = expected.value if isinstance(expected, T.MapT) else None
        value = self.expr(e.value, inner, hint)
        value_t = value.t
        if hint is not None and T.fits(value.t, hint) is not False:
            # Built directly in the expected representation (no conversion later).
            value, value_t = self.coerce(value, hint, "a map value"), hint
        local = ir.Local(binding.local.name, binding.local.uid, key_t, binding.local.span)
        return ir.MapComp(ir.Binding(local, dom), value, T.MapT(key_t, value_t), e.span)

    def _e_Call(self, e: S.Call, scope, expected):
        f = e.func
        if f in BUILTINS and not isinstance(self.decls.get(f), (S.DefDecl, S.RecordDecl)):
            return self._builtin(e, scope, expected)
        if f in self.defs:
            d = self.defs[f]
            params = d.params or ()
            if len(params) != len(e.args):
                raise self.error(f"`{f}` takes {len(params)} argument(s), given {len(e.args)}",
                                 e.span)
            args = []
            for p, a in zip(params, e.args):
                want = self.resolve_type(p.type) if p.type is not None else None
                x = self.expr(a, scope, want)
                args.append(self.coerce(x, want, f"argument `{p.name}` of {f}") if want else x)
            return self._def_value(f, tuple(args), e.span)
        if isinstance(self.decls.get(f), S.RecordDecl):
            return self._construct(f, e.args, e.span, scope)
        raise self.error(f"unknown function `{f}`", e.span,
                         notes=self._suggest(f, [*self.defs, *BUILTINS, *self.records]))

    def _construct(self, name: str, args, span: Span, scope: _Scope) -> ir.Expr:
        rec = self._record_type(name)
        if len(args) != len(rec.fields):
            raise self.error(f"{name} has {len(rec.fields)} field(s), given {len(args)}", span,
                             notes=(f"{name}(" + ", ".join(f"{f}: {t}" for f, t in rec.fields)
                                    + ")",))
        typed = tuple(self.coerce(self.expr(a, scope, ft), ft, f"field `{f}` of {name}")
                      for a, (f, ft) in zip(args, rec.fields))
        if self.message is not None and name in self._message_names():
            return ir.Construct(self.message.case_index(name), typed, self.message, span)
        return ir.Construct(None, typed, rec, span)

    def _builtin(self, e: S.Call, scope, expected) -> ir.Expr:
        f, n = e.func, len(e.args)
        if f == "enabled":
            names = []
            for x in e.args:
                if not isinstance(x, S.Name):
                    raise self.error("`enabled` takes action names", x.span)
                names.append(x.id)
            if not names:
                raise self.error("`enabled` needs at least one action name", e.span)
            return self._enabled(names, e.span, scope)
        arity = {"append": 2, "put": 2, "take": 2, "count": 2}.get(f, 1)
        if n != arity:
            raise self.error(f"`{f}` takes {arity} argument(s), given {n}", e.span)
        # put(put({}, x), y): the bag argument of put/take has the result's type, so an
        # empty literal there is read as a bag.
        bag_hint = expected if f in ("put", "take") and isinstance(expected, T.BagT) else None
        a = self.expr(e.args[0], scope, bag_hint)
        if bag_hint is not None and isinstance(a, ir.SetLit) and not a.elems:
            a = ir.SetLit((), bag_hint, a.span)  # the empty bag
        t = a.t
        if isinstance(t, T.BagT) and f in ("size", "put", "take", "count"):
            if f == "size":
                return ir.Builtin("bagsize", (a,),
                                  T.IntT(0, t.capacity * self.univ.bits(t.elem)), e.span)
            x = self.expr(e.args[1], scope, t.elem)
            if T.join(x.t, t.elem) is None:
                raise self.error(f"a {t} holds {t.elem} values, not {x.t}", e.args[1].span)
            x = self.coerce(x, t.elem, f"the element given to `{f}`")
            result = T.IntT(0, t.capacity) if f == "count" else t
            return ir.Builtin(f, (a, x), result, e.span)
        if f in ("put", "take", "count"):
            raise self.error(f"`{f}` needs a bag, found {t}", e.args[0].span)
        if f in ("size", "subsets", "union", "min", "max"):
            if not isinstance(t, T.SetT):
                raise self.error(f"`{f}` needs a set, found {t}", e.args[0].span)
            if f == "size":
                return ir.Builtin(f, (a,), T.IntT(0, self.univ.bits(t.elem)), e.span)
            if f == "subsets":
                return ir.Builtin(f, (a,), T.SetT(t), e.span)
            if f == "union":
                if not isinstance(t.elem, T.SetT):
                    raise self.error(f"`union` needs a set of sets, found {t}", e.args[0].span)
                return ir.Builtin(f, (a,), t.elem, e.span)
            if not isinstance(t.elem, T.IntT):
                raise self.error(f"`{f}` needs a set of integers, found {t}", e.args[0].span)
            return ir.Builtin(f, (a,), t.elem, e.span)
        if not isinstance(t, T.SeqT):
            raise self.error(f"`{f}` needs a sequence, found {t}", e.args[0].span)
        if f == "len":
            return ir.Builtin(f, (a,), T.IntT(0, t.capacity), e.span)
        if f in ("head", "last"):
            return ir.Builtin(f, (a,), t.elem, e.span)
        if f == "tail":
            return ir.Builtin(f, (a,), T.SeqT(t.elem, max(0, t.capacity - 1)), e.span)
        x = self.expr(e.args[1], scope, t.elem)
        et = T.join(t.elem, x.t)
        if et is None:
            raise self.error(f"cannot append a {x.t} to a {t}", e.args[1].span)
        return ir.Builtin(f, (a, x), T.SeqT(et, t.capacity + 1), e.span)

    # ------------------------------------------------------------------- defs
    def _def_value(self, name: str, args: tuple[ir.Expr, ...], span: Span) -> ir.Expr:
        d = self.defs[name]
        key = (name, tuple(a.t for a in args))
        if key not in self.def_cache:
            if name in self.def_active:
                raise self.error(f"`{name}` is defined in terms of itself", span)
            self.def_active.add(name)
            try:
                params = tuple(ir.Local(p.name, next(self.uids), a.t, p.span)
                               for p, a in zip(d.params or (), args))
                scope = _Scope({p.name: p for p in params})
                body = self.expr(d.body, scope)
            finally:
                self.def_active.discard(name)
            reads = tuple(sorted({x.slot for x in ir_nodes(body) if isinstance(x, ir.Var)} | {
                s for x in ir_nodes(body) if isinstance(x, ir.CallDef)
                for s in self.instances[x.def_id].reads}))
            if not params and self._is_constant(body):
                self.def_cache[key] = ir.Const(self.evaluate(body), body.t, d.span)
            else:
                inst = ir.DefInstance(len(self.instances), name, params, body, reads)
                self.instances.append(inst)
                self.def_cache[key] = inst
        found = self.def_cache[key]
        if isinstance(found, ir.Const):
            return ir.Const(found.value, found.t, span)
        return ir.CallDef(found.uid, args, found.body.t, span)


def _has_map(t: T.Type) -> bool:
    if isinstance(t, T.MapT):
        return True
    if isinstance(t, (T.SetT, T.SeqT, T.BagT)):
        return _has_map(t.elem)
    if isinstance(t, T.OptionT):
        return _has_map(t.inner)
    return False


def _interval(op: str, a: T.IntT, b: T.IntT) -> T.IntT:
    if op == "+":
        return T.IntT(a.lo + b.lo, a.hi + b.hi)
    if op == "-":
        return T.IntT(a.lo - b.hi, a.hi - b.lo)
    if op == "*":
        corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        return T.IntT(min(corners), max(corners))
    big = max(abs(a.lo), abs(a.hi))
    if op == "/":
        if b.lo <= 0 <= b.hi:
            return T.IntT(-big, big)
        corners = [a.lo // b.lo, a.lo // b.hi, a.hi // b.lo, a.hi // b.hi]
        return T.IntT(min(corners), max(corners))
    if b.lo > 0:
        return T.IntT(0, b.hi - 1)
    m = max(abs(b.lo), abs(b.hi))
    return T.IntT(-m, m)


def check(spec: S.Spec, source: Source | None = None,
          overrides: dict[str, S.Expr] | None = None,
          override_sources: dict[str, Source] | None = None) -> ir.TypedSpec:
    """Type-check a parsed spec; raises SpecError with every diagnostic found.
    ``overrides``: constants' values from ``--const``, parsed from ``override_sources``
    (where errors in them are located)."""
    return Checker(spec, source, overrides, override_sources).check()
