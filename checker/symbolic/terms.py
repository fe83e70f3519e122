"""Scalars and fast term constructors.

A *scalar* is a Python ``bool`` (a known truth value), a Python ``int`` (a known integer,
enumeration index or symbol index) or a Z3 term: a Bool, or a bit-vector for an integer.
Every constructor here folds known values, so formulas over concrete parts of a state
never reach Z3. Known booleans are always ``bool`` (never 0 or 1) and known integers
never ``bool``.

Integers are two's-complement bit-vectors of one width per spec (``set_width``), wide
enough for every value the spec's expressions can take (the type checker gives each
integer expression a sound interval), so bit-vector arithmetic never wraps. Every query
is then a finite-domain problem that Z3 bit-blasts to SAT: on the specs of this project
several times faster than the same queries over unbounded integers with range
constraints.

Z3's Python operators check and coerce their arguments on every call; building terms
through the C API directly is five to eight times faster, which matters because a
quantifier over a set of messages expands into thousands of small terms.
"""

from __future__ import annotations

from collections.abc import Iterable

import z3
from z3 import z3core as _C

Scalar = bool | int | z3.ExprRef

CTX = z3.main_ctx()
_REF = CTX.ref()
_Ast = z3.Ast


def is_term(x) -> bool:
    return isinstance(x, z3.ExprRef)


def _bool(a) -> z3.BoolRef:
    return z3.BoolRef(a, CTX)


def _bv(a) -> z3.BitVecRef:
    return z3.BitVecRef(a, CTX)


_TRUE = z3.BoolVal(True)
_FALSE = z3.BoolVal(False)
_INTS: dict[tuple[int, int], z3.BitVecRef] = {}
_WIDTH = [8]


def set_width(w: int) -> None:
    """The width of integer terms made from known integers alone (a term's own width is
    used wherever there is one)."""
    _WIDTH[0] = w


def width() -> int:
    return _WIDTH[0]


def width_for(bound: int) -> int:
    """Enough bits for every integer of absolute value up to ``bound``, and for the sum
    or difference of two of them."""
    return max(4, (2 * max(1, bound) + 1).bit_length() + 1)


def zbool(x) -> z3.BoolRef:
    """A Bool term for a scalar."""
    if x is True:
        return _TRUE
    if x is False:
        return _FALSE
    return x


def zint(x, w: int | None = None) -> z3.BitVecRef:
    """An integer term for a scalar (of width ``w``, or the current width)."""
    if isinstance(x, int):
        key = (x, w or _WIDTH[0])
        t = _INTS.get(key)
        if t is None:
            t = _INTS[key] = z3.BitVecVal(x, key[1])
        return t
    return x


def _ints(a, b):
    """Both as terms of one width (taken from whichever is a term)."""
    if type(a) is int:
        return zint(a, b.size() if type(b) is not int else None), zint(b)
    if type(b) is int:
        return a, zint(b, a.size())
    return a, b


def zval(x, like: z3.ExprRef) -> z3.ExprRef:
    """A term for scalar ``x`` of the same sort as ``like``."""
    if isinstance(x, z3.ExprRef):
        return x
    if isinstance(like, z3.BoolRef):
        return zbool(bool(x))
    return zint(int(x), like.size())


def int_value(v: z3.ExprRef) -> int:
    """The integer a bit-vector numeral stands for."""
    return v.as_signed_long()


def _array(xs) -> tuple[int, object]:
    n = len(xs)
    arr = (_Ast * n)()
    for i, v in enumerate(xs):
        arr[i] = v.as_ast()
    return n, arr


# ---------------------------------------------------------------- booleans
def and_(xs: Iterable) -> Scalar:
    out = []
    for x in xs:
        if x is True:
            continue
        if x is False:
            return False
        out.append(x)
    if not out:
        return True
    if len(out) == 1:
        return out[0]
    n, arr = _array(out)
    return _bool(_C.Z3_mk_and(_REF, n, arr))


def or_(xs: Iterable) -> Scalar:
    out = []
    for x in xs:
        if x is False:
            continue
        if x is True:
            return True
        out.append(x)
    if not out:
        return False
    if len(out) == 1:
        return out[0]
    n, arr = _array(out)
    return _bool(_C.Z3_mk_or(_REF, n, arr))


def and2(a, b) -> Scalar:
    if a is True:
        return b
    if b is True:
        return a
    if a is False or b is False:
        return False
    return _bool(_C.Z3_mk_and(_REF, 2, _pair(a, b)))


def or2(a, b) -> Scalar:
    if a is False:
        return b
    if b is False:
        return a
    if a is True or b is True:
        return True
    return _bool(_C.Z3_mk_or(_REF, 2, _pair(a, b)))


def _pair(a, b):
    arr = (_Ast * 2)()
    arr[0] = a.as_ast()
    arr[1] = b.as_ast()
    return arr


def not_(a) -> Scalar:
    if a is True:
        return False
    if a is False:
        return True
    return _bool(_C.Z3_mk_not(_REF, a.as_ast()))


def implies(a, b) -> Scalar:
    if a is False or b is True:
        return True
    if a is True:
        return b
    if b is False:
        return not_(a)
    return _bool(_C.Z3_mk_implies(_REF, a.as_ast(), b.as_ast()))


def iff(a, b) -> Scalar:
    if a is True:
        return b
    if b is True:
        return a
    if a is False:
        return not_(b)
    if b is False:
        return not_(a)
    if a is b:
        return True
    return _bool(_C.Z3_mk_eq(_REF, a.as_ast(), b.as_ast()))


# ------------------------------------------------------------- any scalar
def ite(c, a, b) -> Scalar:
    if c is True:
        return a
    if c is False:
        return b
    if a is b:
        return a
    ta, tb = type(a), type(b)
    if ta is bool and tb is bool:
        return c if a else not_(c)  # a != b here
    if (ta is int and tb is int) and a == b:
        return a
    if ta is bool:
        a = zbool(a)
    if tb is bool:
        b = zbool(b)
    if ta is int or tb is int:
        a, b = _ints(a, b)
    r = _C.Z3_mk_ite(_REF, c.as_ast(), a.as_ast(), b.as_ast())
    return _bool(r) if isinstance(a, z3.BoolRef) else _bv(r)


def eq(a, b) -> Scalar:
    """Equality of two scalars of the same sort."""
    ta, tb = type(a), type(b)
    if ta is bool:
        return iff(a, b)
    if tb is bool:
        return iff(a, b)
    if ta is int and tb is int:
        return a == b
    if a is b:
        return True
    if isinstance(a, z3.BoolRef) or isinstance(b, z3.BoolRef):
        return iff(a, b)
    a, b = _ints(a, b)
    return _bool(_C.Z3_mk_eq(_REF, a.as_ast(), b.as_ast()))


def ne(a, b) -> Scalar:
    return not_(eq(a, b))


def lt(a, b) -> Scalar:
    if type(a) is int and type(b) is int:
        return a < b
    a, b = _ints(a, b)
    return _bool(_C.Z3_mk_bvslt(_REF, a.as_ast(), b.as_ast()))


def le(a, b) -> Scalar:
    if type(a) is int and type(b) is int:
        return a <= b
    a, b = _ints(a, b)
    return _bool(_C.Z3_mk_bvsle(_REF, a.as_ast(), b.as_ast()))


def add(a, b) -> Scalar:
    if type(a) is int and type(b) is int:
        return a + b
    if type(b) is int and b == 0:
        return a
    if type(a) is int and a == 0:
        return b
    a, b = _ints(a, b)
    return _bv(_C.Z3_mk_bvadd(_REF, a.as_ast(), b.as_ast()))


def sub(a, b) -> Scalar:
    if type(a) is int and type(b) is int:
        return a - b
    if type(b) is int and b == 0:
        return a
    a, b = _ints(a, b)
    return _bv(_C.Z3_mk_bvsub(_REF, a.as_ast(), b.as_ast()))


def mul(a, b) -> Scalar:
    if type(a) is int and type(b) is int:
        return a * b
    a, b = _ints(a, b)
    return _bv(_C.Z3_mk_bvmul(_REF, a.as_ast(), b.as_ast()))


def neg(a) -> Scalar:
    if type(a) is int:
        return -a
    return _bv(_C.Z3_mk_bvneg(_REF, a.as_ast()))


def floordiv(a, b) -> Scalar:
    """Python's ``a // b`` (for ``b != 0``)."""
    if type(a) is int and type(b) is int:
        return a // b
    # a - a % b is a multiple of b, so the (truncating) signed division is exact.
    a, b = _ints(a, b)
    return _bv(_C.Z3_mk_bvsdiv(_REF, sub(a, floormod(a, b)).as_ast(), b.as_ast()))


def floormod(a, b) -> Scalar:
    """Python's ``a % b`` (for ``b != 0``): the remainder takes the divisor's sign, which
    is SMT-LIB's ``bvsmod``."""
    if type(a) is int and type(b) is int:
        return a % b
    a, b = _ints(a, b)
    return _bv(_C.Z3_mk_bvsmod(_REF, a.as_ast(), b.as_ast()))


def sum_(xs: Iterable) -> Scalar:
    known = 0
    terms = []
    for x in xs:
        if type(x) is int:
            known += x
        else:
            terms.append(x)
    if not terms:
        return known
    # A balanced tree of additions (shallower terms than a chain).
    while len(terms) > 1:
        terms = [add(terms[i], terms[i + 1]) if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return add(terms[0], known)


def count(bits: Iterable) -> Scalar:
    """How many of the boolean scalars are true."""
    return sum_(int(b) if type(b) is bool else ite(b, 1, 0) for b in bits)


def same(a, b) -> bool:
    """Syntactically the same scalar (no solver involved)."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta in (bool, int) or tb in (bool, int):
        return ta is tb and a == b
    return a.eq(b)


def fresh_bool(name: str) -> z3.BoolRef:
    return z3.Bool(name)


def fresh_int(name: str, w: int | None = None) -> z3.BitVecRef:
    return z3.BitVec(name, w or _WIDTH[0])


def substitute(formula, pairs: list[tuple[z3.ExprRef, object]]):
    """``formula`` with each constant replaced (scalars become terms of the right sort)."""
    if not is_term(formula) or not pairs:
        return formula
    return z3.substitute(formula, *[(src, zval(dst, src)) for src, dst in pairs])
