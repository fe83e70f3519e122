"""Text to syntax tree. The only module that imports lark.

Lark's exceptions become ``Diagnostic``s that say, in words, what was expected.
"""

from __future__ import annotations

import functools
import gc
import sys
from dataclasses import dataclass
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.indenter import DedentError, Indenter

from . import syntax as S
from .source import Diagnostic, Source, Span, SpecError

MAX_SOURCE_BYTES = 20_000_000


class _SpecIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def handle_NL(self, token: Token):  # noqa: N802 (lark's naming)
        # A newline token may end in a comment (only at the end of the file); a comment
        # never counts as indentation.
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[-1]
        if "\n" not in token or "#" in indent_str:
            indent_str = ""
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
        else:
            while indent < self.indent_level[-1]:
                self.indent_level.pop()
                yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
            if indent != self.indent_level[-1]:
                raise DedentError(
                    f"unindent does not match any outer indentation level (line {token.end_line})")


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("checker").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", postlex=_SpecIndenter(), propagate_positions=True,
                maybe_placeholders=True, start=["start", "expr_start"], cache=True)


def _span(meta) -> Span:
    if getattr(meta, "empty", False) or not hasattr(meta, "line"):
        return Span.unknown()
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


@dataclass(frozen=True)
class _FaultMarker:
    kind: str | None
    kind_span: Span | None


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """One short method per grammar rule; the grammar already shaped the tree."""

    # ---- declarations
    def expr_start(self, meta, expr):
        return expr

    def start(self, meta, name, *decls):
        return S.Spec(str(name), tuple(decls), _span(meta))

    def const_decl(self, meta, name, default):
        return S.ConstDecl(str(name), default, _span(meta))

    def symmetry_decl(self, meta, *names):
        return [S.SymmetryDecl(str(n), _tok_span(n)) for n in names]

    def enum_decl(self, meta, name, *members):
        return S.EnumDecl(str(name), tuple(str(m) for m in members), _span(meta))

    def message_decl(self, meta, name, fields):
        return S.RecordDecl("message", str(name), tuple(fields or ()), _span(meta))

    def record_decl(self, meta, name, fields):
        return S.RecordDecl("record", str(name), tuple(fields), _span(meta))

    def field_list(self, meta, *fields):
        return [f for f in fields if f is not None]

    def field(self, meta, name, type_):
        return S.FieldDecl(str(name), type_, _span(meta))

    def def_decl(self, meta, name, params, body):
        return S.DefDecl(str(name), None if params is None else tuple(params), body, _span(meta))

    def param_list(self, meta, *params):
        return [p for p in params if p is not None]

    def param(self, meta, name, type_):
        return S.Param(str(name), type_, _span(meta))

    def var_decl(self, meta, durable, *parts):
        *names, type_ = parts
        return [S.VarDecl(str(n), type_, _tok_span(n), durable is not None) for n in names]

    def init_decl(self, meta, body):
        return S.InitDecl(body, span=_span(meta))

    def fault_marker(self, meta, _fault, kind):
        return _FaultMarker(None if kind is None else str(kind),
                            None if kind is None else _tok_span(kind))

    def action_decl(self, meta, fault, name, params, body):
        return S.ActionDecl(str(name), tuple(params or ()), body, fault is not None, _span(meta),
                            None if fault is None else fault.kind,
                            (fault and fault.kind_span) or S._NOSPAN)

    def action_params(self, meta, *binders):
        return [b for b in binders if b is not None]

    def inv_kind(self, meta, tok):
        return str(tok)

    def invariant_decl(self, meta, transition, kind, name, body):
        return S.InvariantDecl(str(name), body, transition is not None, _span(meta),
                               lemma=str(kind) == "lemma")

    def option_decl(self, meta, name, value):
        return S.OptionDecl(str(name), value, _span(meta))

    # ---- statements
    def block(self, meta, *stmts):
        return tuple(stmts)

    def require_stmt(self, meta, cond):
        return S.Require(cond, _span(meta))

    def assign_stmt(self, meta, target, value):
        return S.Assign(target, value, _span(meta))

    def let_stmt(self, meta, name, value):
        return S.Let(str(name), value, _span(meta))

    def skip_stmt(self, meta):
        return S.Skip(_span(meta))

    def if_stmt(self, meta, cond, body, *rest):
        *elifs, orelse = rest
        return S.If(((cond, body), *elifs), orelse, _span(meta))

    def elif_clause(self, meta, cond, body):
        return (cond, body)

    def else_clause(self, meta, body):
        return body

    def choose_stmt(self, meta, *parts):
        *binders, cond, body = parts
        return S.Choose(tuple(binders), cond, body, _span(meta))

    def either_stmt(self, meta, *blocks):
        return S.Either(tuple(blocks), _span(meta))

    def binder(self, meta, *parts):
        *names, domain = parts
        return S.Binder(tuple(str(n) for n in names), domain, _span(meta))

    # ---- expressions
    def if_expr(self, meta, then, cond, orelse):
        return S.IfExpr(cond, then, orelse, _span(meta))

    def _binary(op):  # noqa: N805 (a rule factory, used in the class body only)
        def rule(self, meta, left, right):
            return S.Binary(op, left, right, _span(meta))
        return rule

    implies = _binary("implies")
    iff = _binary("iff")
    or_ = _binary("or")
    and_ = _binary("and")
    in_ = _binary("in")
    notin = _binary("notin")
    union = _binary("|")
    inter = _binary("&")
    range_ = _binary("..")
    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    div = _binary("/")
    mod = _binary("%")

    def compare(self, meta, left, op, right):
        return S.Binary(str(op), left, right, _span(meta))

    def not_(self, meta, operand):
        return S.Unary("not", operand, _span(meta))

    def neg(self, meta, operand):
        if isinstance(operand, S.IntLit):
            return S.IntLit(-operand.value, _span(meta))
        return S.Unary("-", operand, _span(meta))

    def forall(self, meta, *parts):
        *binders, body = parts
        return S.Quant("forall", tuple(binders), body, _span(meta))

    def exists(self, meta, *parts):
        *binders, body = parts
        return S.Quant("exists", tuple(binders), body, _span(meta))

    def is_(self, meta, value, tag):
        return S.Is(value, str(tag), _span(meta))

    def index(self, meta, base, *args):
        return S.Index(base, tuple(args), _span(meta))

    def field_access(self, meta, base, name):
        return S.Field(base, str(name), _span(meta))

    def optional(self, meta, inner):
        return S.Optional(inner, _span(meta))

    def name(self, meta, tok):
        return S.Name(str(tok), _span(meta))

    def call(self, meta, func, *args):
        return S.Call(str(func), tuple(a for a in args if a is not None), _span(meta))

    def prime(self, meta, tok):
        return S.Prime(str(tok), _span(meta))

    def int_lit(self, meta, tok):
        return S.IntLit(int(tok), _span(meta))

    def true(self, meta):
        return S.BoolLit(True, _span(meta))

    def false(self, meta):
        return S.BoolLit(False, _span(meta))

    def none(self, meta):
        return S.NoneLit(_span(meta))

    def seq_lit(self, meta, *elems):
        return S.SeqLit(tuple(e for e in elems if e is not None), _span(meta))

    def empty_set(self, meta):
        return S.SetLit((), _span(meta))

    def set_lit(self, meta, *elems):
        return S.SetLit(tuple(elems), _span(meta))

    def set_filter(self, meta, member, cond):
        if not (isinstance(member, S.Binary) and member.op == "in"
                and isinstance(member.left, S.Name)):
            raise _AstError("a filter is written {x in S where P}: expected `name in set` "
                            "before `where`", member.span)
        return S.SetFilter(member.left.id, member.right, cond, _span(meta))

    def set_map(self, meta, elem, *parts):
        *binders, cond = parts
        return S.SetMap(elem, tuple(binders), cond, _span(meta))

    def map_lit(self, meta, *parts):
        pairs = tuple((parts[i], parts[i + 1]) for i in range(0, len(parts), 2))
        return S.MapLit(pairs, _span(meta))

    def map_comp(self, meta, key, value, *parts):
        *binders, cond = parts
        return S.MapComp(key, value, tuple(binders), cond, _span(meta))


class _AstError(Exception):
    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.message = message
        self.span = span


def _flatten_decls(spec: S.Spec) -> S.Spec:
    decls: list[S.Decl] = []
    for d in spec.decls:
        decls.extend(d if isinstance(d, list) else [d])
    return S.Spec(spec.name, tuple(decls), spec.span)


_TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "end of file",
    "COMPOP": "a comparison (==, !=, <, <=, >, >=)",
    "FAULT": "'fault'",
    "TRANSITION": "'transition'",
}


def _describe_token(name: str) -> str:
    if name in _TOKEN_WORDS:
        return _TOKEN_WORDS[name]
    try:
        term = _lark().get_terminal(name)
        if term.pattern.type == "str":
            return repr(term.pattern.value)
    except KeyError:
        pass
    return name.lower()


def _expected_words(expected) -> tuple[str, ...]:
    words = sorted({_describe_token(t) for t in expected})
    return tuple(words[:12]) + (("...",) if len(words) > 12 else ())


def _found(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "_INDENT":
        return "indent"
    if tok.type == "_DEDENT":
        return "end of block"
    return repr(str(tok))


def _syntax_diagnostic(err: UnexpectedInput, text: str) -> Diagnostic:
    if isinstance(err, UnexpectedToken):
        tok = err.token
        line, col = tok.line or 0, tok.column or 0
        if tok.type == "_INDENT":
            # The indent token spans the newline: point at the indented line's text.
            line, col = tok.end_line or line, tok.end_column or col
        elif tok.type in ("_NL", "_DEDENT", "$END") or line == 0:
            # Point at the end of the line the parser was on, not the next one.
            prev = err.token_history[-1] if err.token_history else None
            if prev is not None and getattr(prev, "end_line", None):
                line, col = prev.end_line, prev.end_column
        expected = err.accepts or err.expected
        return Diagnostic(f"unexpected {_found(tok)}", Span(line, col),
                          expected=_expected_words(expected))
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        return Diagnostic(f"unexpected character {ch!r}", Span(err.line, err.column),
                          expected=_expected_words(err.allowed or ()))
    if isinstance(err, UnexpectedEOF):
        lines = text.splitlines() or [""]
        return Diagnostic("unexpected end of file", Span(len(lines), len(lines[-1]) + 1),
                          expected=_expected_words(err.expected))
    return Diagnostic(str(err), Span.unknown())


def parse(source: Source) -> S.Spec:
    """Parse a spec, raising ``SpecError`` (never a lark or Python error) on bad input."""
    return _parse(source, "start")


def parse_expression(source: Source) -> S.Expr:
    """Parse one expression (a ``--const`` value, an expression typed at a prompt)."""
    return _parse(source, "expr_start")


def _parse(source: Source, start: str):
    text = source.text
    if len(text) > MAX_SOURCE_BYTES:
        raise SpecError([Diagnostic(f"spec file too large ({len(text)} bytes; the limit is "
                                    f"{MAX_SOURCE_BYTES})", Span.unknown())], source)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        col = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise SpecError([Diagnostic("the file contains a NUL byte: is it a binary file?",
                                    Span(line, col))], source)
    if not text.endswith("\n"):
        text += "\n"
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    gc_was_on = gc.isenabled()
    gc.disable()  # the parse builds many small objects and no cycles: ~2x faster
    try:
        tree = _lark().parse(text, start=start)
        result = _ToAst().transform(tree)
        _check_depth(result, source)
        return _flatten_decls(result) if start == "start" else result
    except UnexpectedInput as err:
        raise SpecError([_syntax_diagnostic(err, text)], source) from None
    except DedentError as err:
        line = _dedent_line(str(err))
        raise SpecError([Diagnostic("inconsistent indentation: this line's indent matches "
                                    "no enclosing block", Span(line, 1))], source) from None
    except VisitError as err:
        inner = err.orig_exc
        if isinstance(inner, _AstError):
            raise SpecError([Diagnostic(inner.message, inner.span)], source) from None
        if isinstance(inner, RecursionError):
            raise _too_deep(source) from None
        raise
    except RecursionError:
        raise _too_deep(source) from None
    except LarkError as err:
        raise SpecError([Diagnostic(f"syntax error: {err}", Span.unknown())], source) from None
    finally:
        sys.setrecursionlimit(old_limit)
        if gc_was_on:
            gc.enable()


MAX_NESTING = 200


def _check_depth(tree, source: Source) -> None:
    """Refuse expressions nested deeper than MAX_NESTING (later passes recurse over
    them), pointing at the first node past the limit. Iterative, so it cannot overflow."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend((x, depth) for x in node)
            continue
        if not isinstance(node, S.Node):
            continue
        if depth > MAX_NESTING:
            raise SpecError([Diagnostic(f"expression nested too deeply (more than "
                                        f"{MAX_NESTING} levels)", node.span)], source)
        inner = depth + 1 if isinstance(node, S.Expr) else depth
        for name in node.__dataclass_fields__:
            if name != "span":
                stack.append((getattr(node, name), inner))


def _too_deep(source: Source) -> SpecError:
    return SpecError([Diagnostic("expression nested too deeply", Span(1, 1))], source)


def _dedent_line(message: str) -> int:
    digits = "".join(ch for ch in message.rsplit("line", 1)[-1] if ch.isdigit())
    return int(digits) if digits else 0


def read_source(path: str) -> Source:
    """Read a spec file as text, turning I/O and encoding problems into a SpecError."""
    try:
        with open(path, "rb") as fh:
            # (in blocks: read(MAX_SOURCE_BYTES + 1) allocates that much at once, which
            # under a tight address-space limit was the MemoryError of a small spec)
            blocks: list[bytes] = []
            size = 0
            while size <= MAX_SOURCE_BYTES:
                block = fh.read(min(1 << 20, MAX_SOURCE_BYTES + 1 - size))
                if not block:
                    break
                blocks.append(block)
                size += len(block)
            data = b"".join(blocks)
    except OSError as err:
        raise SpecError([Diagnostic(f"cannot read spec: {err.strerror}", Span.unknown())],
                        Source(path, "")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError([Diagnostic("the file is not UTF-8 text (is it a binary file?)",
                                    Span(line, col))], Source(path, "")) from None
    from .output_file import reading

    reading(path)       # (no output of this run may replace it)
    return Source(path, text)
