"""Syntax tree back to spec text: the inverse of ``parser.parse``.

``parse(unparse(spec)) == spec`` for every spec the parser produces (spans and comments
are not kept). Parentheses are written only where the grammar needs them, following the
precedence levels of ``grammar.lark`` (lowest first):

====  ==========================================  =====================
 0    ``a if c else b``                            right operand is ``0``
 1    ``implies`` (right-assoc.), ``iff``
 2    ``or``                                       left-assoc.
 3    ``and``                                      left-assoc.
 4    ``not``, ``forall``, ``exists``              prefix
 5    ``== != < <= > >= in not in is``             not chained
 6    ``|``                                        left-assoc.
 7    ``&``                                        left-assoc.
 8    ``..``                                       not chained
 9    ``+ -``                                      left-assoc.
10    ``* / %``                                    left-assoc.
11    unary ``-`` (and negative literals)          prefix
12    ``e[i]  e.f  T?``                            postfix
13    names, literals, calls, brackets
====  ==========================================  =====================

A quantifier's body and a conditional's ``else`` part extend as far right as possible,
so such an "open" expression also needs parentheses when anything that could continue it
follows (``(forall x in S: P) and Q``); the printer tracks whether an expression is
followed only by a closing token (``tail``).
"""

from __future__ import annotations

from . import syntax as S

INDENT = "    "

_BINARY_PREC = {
    "implies": 1, "iff": 1,
    "or": 2,
    "and": 3,
    "==": 5, "!=": 5, "<": 5, "<=": 5, ">": 5, ">=": 5, "in": 5, "notin": 5,
    "|": 6,
    "&": 7,
    "..": 8,
    "+": 9, "-": 9,
    "*": 10, "/": 10, "%": 10,
}

# The levels the grammar allows for (left operand, right operand).
_OPERANDS = {
    "implies": (2, 1),
    "iff": (2, 2),
    "or": (2, 3),
    "and": (3, 4),
    **{op: (6, 6) for op in ("==", "!=", "<", "<=", ">", ">=", "in", "notin")},
    "|": (6, 7),
    "&": (7, 8),
    "..": (9, 9),
    "+": (9, 10), "-": (9, 10),
    "*": (10, 11), "/": (10, 11), "%": (10, 11),
}

_SPELLING = {"notin": "not in"}


def precedence(e: S.Expr) -> int:
    """The grammar level of ``e`` (see the table in the module docstring)."""
    if isinstance(e, S.IfExpr):
        return 0
    if isinstance(e, S.Binary):
        return _BINARY_PREC[e.op]
    if isinstance(e, S.Quant):
        return 4
    if isinstance(e, S.Unary):
        return 4 if e.op == "not" else 11
    if isinstance(e, S.Is):
        return 5
    if isinstance(e, S.IntLit) and e.value < 0:
        return 11
    if isinstance(e, (S.Index, S.Field, S.Optional)):
        return 12
    return 13


def _is_open(e: S.Expr) -> bool:
    """Whether the text of ``e`` ends with something that a following token could extend."""
    while True:
        if isinstance(e, (S.Quant, S.IfExpr)):
            return True
        if isinstance(e, S.Unary):
            e = e.operand
        elif isinstance(e, S.Binary):
            e = e.right
        else:
            return False


def unparse_expr(e: S.Expr) -> str:
    """An expression as text that parses back to ``e``."""
    return _expr(e, 0, True)


def _expr(e: S.Expr, level: int, tail: bool) -> str:
    """``e`` where the grammar expects ``level``; ``tail``: nothing that could continue
    an expression follows."""
    if precedence(e) < level or (not tail and _is_open(e)):
        return "(" + _bare(e, True) + ")"
    return _bare(e, tail)


def _list(items, sep: str = ", ") -> str:
    return sep.join(_expr(x, 0, True) for x in items)


def _binders(binders: tuple[S.Binder, ...]) -> str:
    return ", ".join(_binder(b) for b in binders)


def _binder(b: S.Binder) -> str:
    return f"{', '.join(b.names)} in {_expr(b.domain, 0, False)}"


def _bare(e: S.Expr, tail: bool) -> str:
    if isinstance(e, S.Name):
        return e.id
    if isinstance(e, S.IntLit):
        return str(e.value)
    if isinstance(e, S.BoolLit):
        return "true" if e.value else "false"
    if isinstance(e, S.NoneLit):
        return "none"
    if isinstance(e, S.Prime):
        return f"{e.name}'"
    if isinstance(e, S.Unary):
        if e.op == "not":
            return "not " + _expr(e.operand, 4, tail)
        if e.op == "-":
            return "-" + _expr(e.operand, 11, tail)
        raise ValueError(f"unknown unary operator {e.op!r}")
    if isinstance(e, S.Binary):
        left_level, right_level = _OPERANDS[e.op]
        left = _expr(e.left, left_level, False)
        right = _expr(e.right, right_level, tail)
        if e.op == "..":
            return f"{left}..{right}"
        return f"{left} {_SPELLING.get(e.op, e.op)} {right}"
    if isinstance(e, S.Is):
        return f"{_expr(e.value, 6, False)} is {e.tag}"
    if isinstance(e, S.Call):
        return f"{e.func}({_list(e.args)})"
    if isinstance(e, S.Index):
        return f"{_expr(e.base, 12, False)}[{_list(e.args)}]"
    if isinstance(e, S.Field):
        return f"{_expr(e.base, 12, False)}.{e.name}"
    if isinstance(e, S.Optional):
        return f"{_expr(e.inner, 12, False)}?"
    if isinstance(e, S.IfExpr):
        return (f"{_expr(e.then, 1, False)} if {_expr(e.cond, 1, False)} else "
                f"{_expr(e.orelse, 0, tail)}")
    if isinstance(e, S.Quant):
        return f"{e.kind} {_binders(e.binders)}: {_expr(e.body, 0, tail)}"
    if isinstance(e, S.SetLit):
        return "{" + _list(e.elems) + "}"
    if isinstance(e, S.SeqLit):
        return "[" + _list(e.elems) + "]"
    if isinstance(e, S.MapLit):
        if not e.pairs:
            raise ValueError("an empty map literal has no syntax ({} is the empty set)")
        return "{" + ", ".join(f"{_expr(k, 0, False)}: {_expr(v, 0, True)}"
                               for k, v in e.pairs) + "}"
    if isinstance(e, S.SetFilter):
        return (f"{{{e.name} in {_expr(e.domain, 6, False)} where "
                f"{_expr(e.cond, 0, True)}}}")
    if isinstance(e, S.SetMap):
        return "{" + _expr(e.elem, 0, False) + " for " + _binders(e.binders) + _where(
            e.cond) + "}"
    if isinstance(e, S.MapComp):
        return ("{" + _expr(e.key, 0, False) + ": " + _expr(e.value, 0, False) + " for "
                + _binders(e.binders) + _where(e.cond) + "}")
    raise TypeError(f"cannot print {type(e).__name__}")


def _where(cond: S.Expr | None) -> str:
    return "" if cond is None else " where " + _expr(cond, 0, True)


# ------------------------------------------------------------------ statements
def _block(stmts: tuple[S.Stmt, ...], depth: int) -> list[str]:
    if not stmts:
        raise ValueError("a block needs at least one statement")
    out: list[str] = []
    for st in stmts:
        out.extend(_stmt(st, depth))
    return out


def _stmt(st: S.Stmt, depth: int) -> list[str]:
    pad = INDENT * depth
    if isinstance(st, S.Require):
        return [f"{pad}require {_expr(st.cond, 0, True)}"]
    if isinstance(st, S.Assign):
        return [f"{pad}{_expr(st.target, 0, False)} = {_expr(st.value, 0, True)}"]
    if isinstance(st, S.Let):
        return [f"{pad}let {st.name} = {_expr(st.value, 0, True)}"]
    if isinstance(st, S.Skip):
        return [f"{pad}skip"]
    if isinstance(st, S.If):
        out: list[str] = []
        for i, (cond, body) in enumerate(st.branches):
            word = "if" if i == 0 else "elif"
            out.append(f"{pad}{word} {_expr(cond, 0, False)}:")
            out.extend(_block(body, depth + 1))
        if st.orelse is not None:
            out.append(f"{pad}else:")
            out.extend(_block(st.orelse, depth + 1))
        return out
    if isinstance(st, S.Choose):
        return [f"{pad}choose {_binders(st.binders)}{_where_head(st.cond)}:",
                *_block(st.body, depth + 1)]
    if isinstance(st, S.Either):
        out = []
        for i, body in enumerate(st.branches):
            out.append(f"{pad}{'either' if i == 0 else 'or'}:")
            out.extend(_block(body, depth + 1))
        return out
    raise TypeError(f"cannot print {type(st).__name__}")


def _where_head(cond: S.Expr | None) -> str:
    return "" if cond is None else " where " + _expr(cond, 0, False)


# ---------------------------------------------------------------- declarations
def _fields(fields: tuple[S.FieldDecl, ...]) -> str:
    return "(" + ", ".join(f"{f.name}: {_expr(f.type, 0, True)}" for f in fields) + ")"


def _param(p: S.Param) -> str:
    return p.name if p.type is None else f"{p.name}: {_expr(p.type, 0, True)}"


def _decl(d: S.Decl) -> list[str]:
    if isinstance(d, S.ConstDecl):
        if d.default is None:
            return [f"const {d.name}"]
        return [f"const {d.name} = {_expr(d.default, 0, True)}"]
    if isinstance(d, S.SymmetryDecl):
        return [f"symmetry {d.name}"]
    if isinstance(d, S.EnumDecl):
        return [f"enum {d.name} = {' | '.join(d.members)}"]
    if isinstance(d, S.RecordDecl):
        if d.kind == "message" and not d.fields:
            return [f"message {d.name}"]
        return [f"{d.kind} {d.name}{_fields(d.fields)}"]
    if isinstance(d, S.DefDecl):
        params = "" if d.params is None else "(" + ", ".join(_param(p) for p in d.params) + ")"
        return [f"def {d.name}{params} = {_expr(d.body, 0, True)}"]
    if isinstance(d, S.VarDecl):
        return [("durable " if d.durable else "") + f"var {d.name}: {_expr(d.type, 0, True)}"]
    if isinstance(d, S.InitDecl):
        return ["init:", *_block(d.body, 1)]
    if isinstance(d, S.ActionDecl):
        params = f"({_binders(d.params)})" if d.params else ""
        marker = "" if not d.fault else "fault " if d.fault_kind is None else \
            f"fault({d.fault_kind}) "
        head = marker + f"action {d.name}{params}:"
        return [head, *_block(d.body, 1)]
    if isinstance(d, S.InvariantDecl):
        head = ("transition " if d.transition else "") + ("lemma" if d.lemma else "invariant")
        return [f"{head} {d.name}: {_expr(d.body, 0, True)}"]
    if isinstance(d, S.OptionDecl):
        return [f"option {d.name} = {_expr(d.value, 0, True)}"]
    raise TypeError(f"cannot print {type(d).__name__}")


def unparse(spec: S.Spec) -> str:
    """The spec as text (ending with a newline) that parses back to an equal tree."""
    lines = [f"spec {spec.name}"]
    for d in spec.decls:
        block = _decl(d)
        if len(block) > 1 or (lines and lines[-1].startswith(INDENT)):
            lines.append("")
        lines.extend(block)
    return "\n".join(lines) + "\n"
