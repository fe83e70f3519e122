"""Text to syntax tree. The only module that imports lark.

Lark's exceptions become ``Diagnostic``s that say, in words, what was expected.
"""

from __future__ import annotations

import copy
import difflib
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
from lark.indenter import Indenter

from . import syntax as S
from .source import Diagnostic, Source, Span, SpecError

MAX_SOURCE_BYTES = 20_000_000


class _IndentError(Exception):
    """Bad indentation, found by the indenter (at a line, in words)."""

    def __init__(self, message: str, line: int, column: int = 1):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


_DECL_KEYWORDS = frozenset({"SPEC", "CONST", "VAR", "DEF", "ENUM", "MESSAGE", "RECORD",
                            "ACTION", "INIT", "INVARIANT", "LEMMA", "OPTION", "SYMMETRY",
                            "DURABLE", "FAULT", "TRANSITION"})


class _SpecIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def process(self, stream):
        # The brackets open so far (so that an error can say which one was never
        # closed) and each block's indent counted with a tab as 1 column (a tab must
        # not decide the block structure: Python's rule).
        self.open_brackets: list[Token] = []
        self.recent: list[Token] = []  # the last tokens read (for hints in errors)
        self.narrow_levels = [0]
        return super().process(self._track(stream))

    def _track(self, stream):
        line_start, first = True, None  # at the start of a top-level line; its first token
        prev = None
        for token in stream:
            if token.type == self.NL_type:
                line_start = not self.open_brackets and token.rsplit("\n", 1)[-1] == ""
            else:
                if token.type in _DECL_KEYWORDS and not (
                        line_start or prev in ("DURABLE", "FAULT", "TRANSITION")
                        or prev == "RPAR" and first == "FAULT" and not self.open_brackets):
                    # A word that starts a declaration is a keyword only there: elsewhere
                    # it is a name (`tmState = init`), though a parser state waiting to
                    # reduce may list the keyword (after an `either` block).
                    token = Token.new_borrow_pos("NAME", token, token)
                if line_start:
                    first = token.type
                line_start = False
            prev = token.type
            if token.type in self.OPEN_PAREN_types:
                self.open_brackets.append(token)
            elif token.type in self.CLOSE_PAREN_types and self.open_brackets:
                self.open_brackets.pop()
            self.recent = [*self.recent[-2:], token]
            yield token

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
        narrow = len(indent_str)
        line = token.end_line or 0
        if indent > self.indent_level[-1]:
            if narrow <= self.narrow_levels[-1]:
                raise self._tab_error(line)
            self.indent_level.append(indent)
            self.narrow_levels.append(narrow)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
        else:
            while indent < self.indent_level[-1]:
                self.indent_level.pop()
                self.narrow_levels.pop()
                yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
            if indent != self.indent_level[-1]:
                raise _IndentError("inconsistent indentation: this line's indent matches no "
                                   "enclosing block", line)
            if narrow != self.narrow_levels[-1]:
                raise self._tab_error(line)

    @property
    def always_accept(self):
        # A name is read whole in every parser state, so that a keyword is only ever a
        # whole word: without NAME here, where `in` may follow an expression but a name
        # may not, `invariant` was read as `in variant` and `x inS` as `x in S`.
        return (self.NL_type, "NAME")

    @staticmethod
    def _tab_error(line: int) -> _IndentError:
        return _IndentError("inconsistent use of tabs and spaces in indentation: indent "
                            "with spaces only (or tabs only)", line)


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


# The keywords that may start or continue a statement or an expression. The lexer reads
# a keyword as a name where the keyword cannot come (`enum TMState = init | ...`), which
# is right for the words that start declarations; one of these, read as a name, could not
# be used as one everywhere (`skip = 1`, `x == none`), so they are refused as names.
_RESERVED = frozenset({"and", "or", "not", "in", "notin", "is", "implies", "iff", "if", "elif",
                       "else", "for", "where", "forall", "exists", "true", "false", "none",
                       "require", "let", "skip", "choose", "either"})


def _ident(tok: Token) -> str:
    """A name token's text; a reserved keyword is refused."""
    name = str(tok)
    if name in _RESERVED:
        raise _AstError(f"`{name}` is a keyword and cannot be used as a name", _tok_span(tok))
    return name


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
        return S.Spec(_ident(name), tuple(decls), _span(meta))

    def const_decl(self, meta, name, default):
        return S.ConstDecl(_ident(name), default, _span(meta))

    def symmetry_decl(self, meta, *names):
        return [S.SymmetryDecl(_ident(n), _tok_span(n)) for n in names]

    def enum_decl(self, meta, name, *members):
        return S.EnumDecl(_ident(name), tuple(_ident(m) for m in members), _span(meta))

    def message_decl(self, meta, name, fields):
        return S.RecordDecl("message", _ident(name), tuple(fields or ()), _span(meta))

    def record_decl(self, meta, name, fields):
        return S.RecordDecl("record", _ident(name), tuple(fields), _span(meta))

    def field_list(self, meta, *fields):
        return [f for f in fields if f is not None]

    def field(self, meta, name, type_):
        return S.FieldDecl(_ident(name), type_, _span(meta))

    def def_decl(self, meta, name, params, body):
        return S.DefDecl(_ident(name), None if params is None else tuple(params), body, _span(meta))

    def param_list(self, meta, *params):
        return [p for p in params if p is not None]

    def param(self, meta, name, type_):
        return S.Param(_ident(name), type_, _span(meta))

    def var_decl(self, meta, durable, *parts):
        *names, type_ = parts
        return [S.VarDecl(_ident(n), type_, _tok_span(n), durable is not None) for n in names]

    def init_decl(self, meta, body):
        return S.InitDecl(body, span=_span(meta))

    def fault_marker(self, meta, _fault, kind):
        return _FaultMarker(None if kind is None else str(kind),
                            None if kind is None else _tok_span(kind))

    def action_decl(self, meta, fault, name, params, body):
        return S.ActionDecl(_ident(name), tuple(params or ()), body, fault is not None, _span(meta),
                            None if fault is None else fault.kind,
                            (fault and fault.kind_span) or S._NOSPAN)

    def action_params(self, meta, *binders):
        return [b for b in binders if b is not None]

    def inv_kind(self, meta, tok):
        return str(tok)

    def invariant_decl(self, meta, transition, kind, name, body):
        return S.InvariantDecl(_ident(name), body, transition is not None, _span(meta),
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
        return S.Let(_ident(name), value, _span(meta))

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
        return S.Binder(tuple(_ident(n) for n in names), domain, _span(meta))

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
        return S.Is(value, _ident(tag), _span(meta))

    def index(self, meta, base, *args):
        return S.Index(base, tuple(args), _span(meta))

    def field_access(self, meta, base, name):
        return S.Field(base, _ident(name), _span(meta))

    def optional(self, meta, inner):
        return S.Optional(inner, _span(meta))

    def name(self, meta, tok):
        return S.Name(_ident(tok), _span(meta))

    def call(self, meta, func, *args):
        return S.Call(_ident(func), tuple(a for a in args if a is not None), _span(meta))

    def prime(self, meta, tok):
        return S.Prime(_ident(tok), _span(meta))

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

# Where a parser accepts any expression, it accepts all of these first tokens: such a set
# is said in one word rather than listed.
_EXPR_START = {"NAME", "INT", "LPAR", "LSQB", "LBRACE", "MINUS", "NOT", "FORALL", "EXISTS",
               "TRUE", "FALSE", "NONE"}
# And where an expression may go on, these (a binary, postfix or `if` operator).
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "AMPERSAND", "VBAR", "__ANON_0",
              "DOT", "QMARK", "QUOTE", "LSQB", "LPAR", "COMPOP", "IN", "NOT", "IS", "AND",
              "OR", "IMPLIES", "IFF", "IF", "NOTIN"}


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
    names = set(expected)
    groups = []
    if {"NAME", "INT", "LPAR"} <= names:
        names -= _EXPR_START
        groups.append("an expression")
    if {"PLUS", "STAR", "COMPOP"} <= names:
        names -= _OPERATORS
        groups.append("an operator")
    words = groups + sorted({_describe_token(t) for t in names})
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


def _show_char(ch: str) -> str:
    return f"'{ch}'" if ch.isprintable() else repr(ch)


@functools.lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    return frozenset(t.pattern.value for t in _lark().terminals
                     if t.pattern.type == "str" and t.pattern.value.isidentifier())


# Habits from other specification languages (TLA+, PlusCal, Quint, P, FizzBee, Python),
# said in this language's words.
_FOREIGN_WORDS = {
    "val": "a named value is `def NAME = expr` (or `const NAME = value` for a constant)",
    "pure": "write `def NAME(x) = expr` (every def is pure)",
    "nondet": "a choice is `choose x in S:` followed by an indented block",
    "module": "a spec starts with `spec Name`; it needs no module or imports",
    "MODULE": "a spec starts with `spec Name`; it needs no module or imports",
    "EXTENDS": "a spec needs no imports",
    "import": "a spec needs no imports",
    "VARIABLE": "declare each variable with its type: `var x: T`",
    "VARIABLES": "declare each variable with its type: `var x: T`",
    "variable": "declare each variable with its type: `var x: T`",
    "variables": "declare each variable with its type: `var x: T`",
    "CONSTANT": "write `const N = 3` (or `const N` with --const N=...)",
    "CONSTANTS": "write `const N = 3` (or `const N` with --const N=...)",
    "constant": "write `const N = 3` (or `const N` with --const N=...)",
    "Init": "the initial states are given by an `init:` block",
    "Next": "there is no Next: each `action` block is one of the steps",
    "UNCHANGED": "there is no UNCHANGED: a variable that an action does not assign keeps its "
                 "value; delete this line",
    "type": "declare types with `enum Name = a | b` or `record Name(field: T)`",
    "fn": "a function is `def f(x) = expr`",
    "func": "a function is `def f(x) = expr`",
    "fun": "a function is `def f(x) = expr`",
    "function": "a function is `def f(x) = expr`",
    "assert": "a guard is `require cond`; a property is `invariant Name: cond`",
    "assume": "a guard is `require cond`",
    "ASSUME": "a guard is `require cond`",
    "property": "a property is `invariant Name: expr`",
    "temporal": "only safety properties are checked: `invariant Name: expr`",
    "THEOREM": "a property is `invariant Name: expr`",
    "all": "the statements of an action all happen in order: write them on separate lines",
    "any": "alternatives are `either:` ... `or:` ... blocks",
    "oneOf": "a choice is `choose x in S:` followed by an indented block",
    "elif": "`elif` must follow an `if` block at the same indentation",
    "else": "`else` must follow an `if` block at the same indentation",
    "or": "`or:` must follow an `either:` block at the same indentation",
    "where": "`where` is part of `choose x in S where cond:` or `{x in S where cond}`",
}

_UNICODE_OPERATORS = {
    "\u2227": "and", "\u2228": "or", "\u00ac": "not", "\u2208": "in", "\u2209": "not in",
    "\u2260": "!=", "\u2264": "<=", "\u2265": ">=", "\u21d2": "implies", "\u2192": "implies",
    "\u21d4": "iff", "\u2200": "forall", "\u2203": "exists", "\u222a": "|", "\u2229": "&",
    "\u2286": "<=", "\u2205": "{}", "\u2261": "==",
}

_TLA_BACKSLASH = {
    "in": "in", "notin": "not in", "A": "forall", "E": "exists", "cup": "|", "union": "|",
    "cap": "&", "intersect": "&", "subseteq": "<=", "lnot": "not", "neg": "not",
    "land": "and", "lor": "or", "equiv": "iff", "div": "/",
}


def _char_hints(text: str, pos: int) -> tuple[str, ...]:
    ch = text[pos] if pos < len(text) else ""
    if ch == "\\":
        if pos > 0 and text[pos - 1] == "/":
            return ("`/\\` is TLA+'s conjunction: write `and`",)
        if text.startswith("\\/", pos):
            return ("`\\/` is TLA+'s disjunction: write `or`",)
        word = ""
        while pos + 1 + len(word) < len(text) and (text[pos + 1 + len(word)].isalnum()):
            word += text[pos + 1 + len(word)]
        if word in _TLA_BACKSLASH:
            return (f"write `{_TLA_BACKSLASH[word]}` for TLA+'s `\\{word}`",)
        return ("a `\\` continues a line only as the last character of the line",)
    if ch in _UNICODE_OPERATORS:
        return (f"write `{_UNICODE_OPERATORS[ch]}`",)
    if ch == "!":
        return ("write `not` for negation (`!=` is not-equal)",)
    if ch == ";":
        return ("a statement ends at the end of its line: remove the `;`",)
    if ch == '"':
        return ("there are no strings: use an enum value or a symbol of a constant set",)
    if ch == "\ufeff":
        return ("a byte order mark belongs only at the very start of the file",)
    if ch.isalpha() or ch.isdigit():
        return ("a name is made of ASCII letters, digits and `_`",)
    return ()


def _line_start(tok: Token, text: str, pos: int | None) -> bool:
    """Whether ``tok`` is the first token on its line."""
    if pos is None:
        return False
    return text[text.rfind("\n", 0, pos) + 1:pos].strip() == ""


def _history(err: UnexpectedToken) -> list[Token]:
    """The tokens read before the unexpected one (lark gives them only for some errors)."""
    recent = list(getattr(_lark().options.postlex, "recent", ()))
    tok = err.token
    if recent and recent[-1].type == tok.type and recent[-1].start_pos == tok.start_pos:
        recent.pop()
    return [t for t in recent or err.token_history or () if t is not None]


def _token_hints(err: UnexpectedToken, text: str) -> tuple[str, ...]:
    tok = err.token
    history = _history(err)
    prev = history[-1] if history else None
    prev_type = prev.type if prev is not None else None
    after = text[tok.end_pos:tok.end_pos + 2] if tok.end_pos is not None else ""
    expected = _parser_expected(err)
    keywords = _keywords()
    line_text = text.splitlines()[tok.line - 1] if tok.line and tok.line <= len(
        text.splitlines()) else ""
    if line_text.strip().startswith("UNCHANGED"):
        return (_FOREIGN_WORDS["UNCHANGED"],)
    if tok.line == 1 and "MODULE" in line_text:
        return (_FOREIGN_WORDS["MODULE"],)
    if tok.type == "EQUAL":
        if prev_type == "SLASH":
            return ("`/=` is TLA+'s not-equal: write `!=`",)
        if prev_type in ("PLUS", "MINUS", "STAR", "PERCENT"):
            return (f"there is no `{prev}=`: write `x = x {prev} ...`",)
        if prev_type == "COLON":
            return ("assignment is `x = e` (no `:=`)",)
        if after.startswith(">"):
            return ("write `implies` for `=>`",)
        if prev_type in ("NAME", "INT", "RPAR", "RSQB", "RBRACE", "TRUE", "FALSE", "NONE",
                         "QUOTE", "QMARK"):
            return ("to compare, write `==` (`=` assigns, in a statement)",)
        return ()
    if tok.type == "COLON" and after.startswith("="):
        return ("assignment is `x = e` (no `:=`)",)
    if tok.type == "AMPERSAND" and prev_type == "AMPERSAND":
        return ("write `and` for `&&`",)
    if tok.type == "VBAR" and prev_type == "VBAR":
        return ("write `or` for `||`",)
    if tok.type == "COMPOP" and str(tok) == ">" and prev_type == "MINUS":
        return ("write `implies` for `->`",)
    if tok.type == "COMPOP" and str(tok) == ">" and prev is not None and str(prev) == "<=":
        return ("write `iff` for `<=>`",)
    if str(tok) == "if" and prev is not None and str(prev) == "else":
        return ("write `elif` for `else if`",)
    if tok.type == "INT" and prev_type == "DOT" and len(history) > 1 \
            and history[-2].type == "INT":
        return ("numbers are integers: there are no fractions",)
    if tok.type == "RBRACE" and prev_type == "COMMA" or \
            tok.type in ("RPAR", "RSQB") and prev_type == "COMMA":
        return ("remove the `,` before the closing bracket",)
    if tok.type == "_NL" and {"NAME", "INT", "LPAR"} <= expected:
        return ("to continue on the next line, end this line with `\\` or put the "
                "expression in parentheses",)
    if tok.type == "_NL" and expected == {"EQUAL"}:
        return ("a line of an action or init is a statement: `require cond`, `x = e`, "
                "`let x = e`, `if`, `choose`, `either` or `skip`",)
    # A word that is not a keyword here: a typo, another language's keyword, or one of
    # ours out of place. (It is the error token, or the name just before it.)
    for word_tok in (tok, prev):
        if word_tok is None or word_tok.type not in ("NAME", *(k.upper() for k in keywords)):
            continue
        word = str(word_tok)
        if word_tok is prev and not _line_start(prev, text, prev.start_pos):
            continue
        if word_tok is tok and word in keywords:
            continue  # a keyword out of place: "expected" says what goes here
        if word in _FOREIGN_WORDS:
            return (_FOREIGN_WORDS[word],)
        if word.lower() in keywords:
            return (f"keywords are lower case: `{word.lower()}`",)
        if word_tok is tok:
            candidates = [w.strip("'") for w in map(_describe_token, expected)
                          if w.strip("'") in keywords]
        else:
            candidates = ["require", "let", "skip", "if", "choose", "either", "action",
                          "const", "var", "def", "enum", "message", "record", "invariant",
                          "lemma", "symmetry", "option", "init", "durable", "fault",
                          "transition", "spec"]
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
        if close:
            return (f"did you mean `{close[0]}`?",)
    return ()


def _parser_expected(err: UnexpectedInput) -> set[str]:
    """The terminals the parser could take where the error is (the lexer's own list is
    wider: it reads a name anywhere)."""
    accepts = getattr(err, "accepts", None)
    if accepts:
        return set(accepts)
    state = getattr(err, "state", None)
    try:
        choices = state.parse_conf.parse_table.states[state.position]
    except (AttributeError, KeyError, TypeError):
        return set(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())
    # As lark's InteractiveParser.accepts: the terminals that the parser can shift after
    # its pending reductions (the table also lists lookaheads that fail later).
    conf = copy.copy(state.parse_conf)
    conf.callbacks = {}
    accepted = set()
    for name in choices:
        if not name.isupper():
            continue  # (a rule's name: the table's goto entries)
        trial = state.copy(deepcopy_values=False)
        trial.parse_conf = conf
        try:
            trial.feed_token(Token(name, ""))
        except UnexpectedToken:
            continue
        accepted.add(name)
    return accepted


def _syntax_diagnostic(err: UnexpectedInput, text: str) -> Diagnostic:
    notes: tuple[str, ...] = ()
    if isinstance(err, UnexpectedToken):
        tok = err.token
        line, col = tok.line or 0, tok.column or 0
        # (the last token before this one that is not a line end)
        prev = next((t for t in reversed(_history(err)) if t.type != "_NL"), None)
        if tok.type == "_INDENT":
            # The indent token spans the newline: point at the indented line's text.
            line, col = tok.end_line or line, tok.end_column or col
        elif tok.type in ("_NL", "_DEDENT") or line == 0:
            # Point at the end of the line the parser was on, not the next one.
            if prev is not None and getattr(prev, "end_line", None):
                line, col = prev.end_line, prev.end_column
        elif tok.type == "$END":
            # (lark gives end of file the last token's place, and no history)
            if prev is not None and getattr(prev, "end_line", None):
                line, col = prev.end_line, prev.end_column
            elif tok.end_line == tok.line and tok.end_column:
                line, col = tok.end_line, tok.end_column
        expected = _parser_expected(err)
        notes = _token_hints(err, text) + _unclosed(line)
        return Diagnostic(f"unexpected {_found(tok)}", Span(line, col),
                          expected=_expected_words(expected), notes=notes)
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        notes = _char_hints(text, err.pos_in_stream) + _unclosed(err.line)
        return Diagnostic(f"unexpected character {_show_char(ch)}", Span(err.line, err.column),
                          expected=_expected_words(_parser_expected(err)), notes=notes)
    if isinstance(err, UnexpectedEOF):
        lines = text.splitlines() or [""]
        return Diagnostic("unexpected end of file", Span(len(lines), len(lines[-1]) + 1),
                          expected=_expected_words(err.expected))
    return Diagnostic(str(err), Span.unknown())


def _unclosed(line: int) -> tuple[str, ...]:
    """A note naming the innermost bracket still open, when it was opened on an earlier
    line than the error (the error is then often the bracket's fault)."""
    opened = getattr(_lark().options.postlex, "open_brackets", None)
    if not opened or not opened[-1].line or opened[-1].line >= line:
        return ()
    tok = opened[-1]
    return (f"the '{tok}' at line {tok.line}, column {tok.column} is still open here "
            f"(is its closing bracket missing?)",)


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
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # a byte order mark (kept as a blank: columns stay right)
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
    except _IndentError as err:
        raise SpecError([Diagnostic(err.message, Span(err.line, err.column))],
                        source) from None
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
        text = data.decode("utf-8-sig")  # (a byte order mark, if any, is not text)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError([Diagnostic("the file is not UTF-8 text (is it a binary file?)",
                                    Span(line, col))], Source(path, "")) from None
    from .output_file import reading

    reading(path)       # (no output of this run may replace it)
    return Source(path, text)
