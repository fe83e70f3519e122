"""Types of the spec language. Every type a variable can have is finite.

A value's *runtime representation* (how the compiler packs it) follows from its type:
booleans are bools; integers are ints; enumeration and symbolic-constant values are
their index; records are tuples of field values and messages tuples ``(tag, fields...)``;
``none`` is ``None``; sets are bit masks over the element type's universe; maps are
tuples indexed by the key's position; sequences are tuples.
"""

from __future__ import annotations

from dataclasses import dataclass


class Type:
    def show(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.show()


@dataclass(frozen=True)
class BoolT(Type):
    def show(self) -> str:
        return "bool"


@dataclass(frozen=True)
class IntT(Type):
    """An integer; ``lo``/``hi`` are the declared range or, for an expression, its
    statically known interval (every expression over finite variables has one)."""

    lo: int
    hi: int

    def show(self) -> str:
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class EnumT(Type):
    name: str
    members: tuple[str, ...]

    def show(self) -> str:
        return self.name


@dataclass(frozen=True)
class SymT(Type):
    """The elements of a constant set of symbols (``const RM = {r1, r2}``)."""

    name: str
    members: tuple[str, ...]

    def show(self) -> str:
        return self.name


@dataclass(frozen=True)
class RecordT(Type):
    name: str
    fields: tuple[tuple[str, Type], ...]

    def show(self) -> str:
        return self.name

    def field_index(self, name: str) -> int | None:
        for i, (f, _) in enumerate(self.fields):
            if f == name:
                return i
        return None


@dataclass(frozen=True)
class VariantT(Type):
    """A tagged union of records: the type ``Message`` is the variant of all messages."""

    name: str
    cases: tuple[RecordT, ...]

    def show(self) -> str:
        return self.name

    def case_index(self, tag: str) -> int | None:
        for i, c in enumerate(self.cases):
            if c.name == tag:
                return i
        return None


@dataclass(frozen=True)
class OptionT(Type):
    inner: Type

    def show(self) -> str:
        return f"{self.inner.show()}?"


@dataclass(frozen=True)
class SetT(Type):
    elem: Type

    def show(self) -> str:
        return f"set[{self.elem.show()}]"


@dataclass(frozen=True)
class MapT(Type):
    key: Type
    value: Type

    def show(self) -> str:
        return f"map[{self.key.show()}, {self.value.show()}]"


@dataclass(frozen=True)
class SeqT(Type):
    elem: Type
    capacity: int

    def show(self) -> str:
        return f"seq[{self.elem.show()}, {self.capacity}]"


@dataclass(frozen=True)
class BagT(Type):
    """A multiset holding at most ``capacity`` copies of each element."""

    elem: Type
    capacity: int

    def show(self) -> str:
        return f"bag[{self.elem.show()}, {self.capacity}]"


@dataclass(frozen=True)
class AnyT(Type):
    """The element type of ``{}`` or the inner type of ``none`` before context fixes it."""

    def show(self) -> str:
        return "?"


BOOL = BoolT()
ANY = AnyT()


def join(a: Type, b: Type) -> Type | None:
    """The smallest type holding values of both (integer intervals widen), or None."""
    if isinstance(a, AnyT):
        return b
    if isinstance(b, AnyT):
        return a
    if isinstance(a, IntT) and isinstance(b, IntT):
        return IntT(min(a.lo, b.lo), max(a.hi, b.hi))
    if isinstance(a, OptionT) and isinstance(b, OptionT):
        inner = join(a.inner, b.inner)
        return OptionT(inner) if inner is not None else None
    if isinstance(a, OptionT):
        inner = join(a.inner, b)
        return OptionT(inner) if inner is not None else None
    if isinstance(b, OptionT):
        return join(b, a)
    if isinstance(a, SetT) and isinstance(b, SetT):
        elem = join(a.elem, b.elem)
        return SetT(elem) if elem is not None else None
    if isinstance(a, BagT) and isinstance(b, BagT):
        elem = join(a.elem, b.elem)
        return BagT(elem, max(a.capacity, b.capacity)) if elem is not None else None
    if isinstance(a, SetT) and isinstance(b, BagT) and isinstance(a.elem, AnyT):
        return b
    if isinstance(b, SetT) and isinstance(a, BagT) and isinstance(b.elem, AnyT):
        return a
    if isinstance(a, SeqT) and isinstance(b, SeqT):
        elem = join(a.elem, b.elem)
        return SeqT(elem, max(a.capacity, b.capacity)) if elem is not None else None
    if isinstance(a, MapT) and isinstance(b, MapT):
        if a.key != b.key:
            return None
        value = join(a.value, b.value)
        return MapT(a.key, value) if value is not None else None
    return a if a == b else None


def fits(value: Type, target: Type) -> bool | None:
    """Can a value of type ``value`` be stored where ``target`` is expected?

    True: always; None: only after a run-time range check; False: never (a type error).
    """
    if isinstance(value, AnyT):
        return True
    if isinstance(value, SetT) and isinstance(value.elem, AnyT) and isinstance(target, BagT):
        return True  # {} is also the empty bag
    if isinstance(value, BagT) and isinstance(target, BagT):
        if value.elem != target.elem and not isinstance(value.elem, AnyT):
            return False
        return True if value.capacity <= target.capacity else None
    if isinstance(value, IntT) and isinstance(target, IntT):
        if target.lo <= value.lo and value.hi <= target.hi:
            return True
        if value.hi < target.lo or value.lo > target.hi:
            return None  # still only a run-time failure: the code may be unreachable
        return None
    if isinstance(target, OptionT):
        if isinstance(value, OptionT):
            return fits(value.inner, target.inner)
        return fits(value, target.inner)
    if isinstance(value, OptionT):
        # A `T?` where a T is expected: allowed, checked at run time (none is an error),
        # so that `require x != none` can be followed by a use of x as a T.
        return None if fits(value.inner, target) is not False else False
    if isinstance(value, SetT) and isinstance(target, SetT):
        return fits(value.elem, target.elem)
    if isinstance(value, SeqT) and isinstance(target, SeqT):
        inner = fits(value.elem, target.elem)
        if inner is False:
            return False
        if value.capacity > target.capacity:
            return None
        return inner
    if isinstance(value, MapT) and isinstance(target, MapT):
        if value.key != target.key:
            return False
        inner = fits(value.value, target.value)
        if inner is False:
            return False
        # A packed map stores each value's position in its own value type, so maps of
        # different value types need a conversion even when every value fits.
        return True if value.value == target.value else None
    return True if value == target else False


def contains_any(t: Type) -> bool:
    if isinstance(t, AnyT):
        return True
    if isinstance(t, (SetT, SeqT, BagT)):
        return contains_any(t.elem)
    if isinstance(t, OptionT):
        return contains_any(t.inner)
    if isinstance(t, MapT):
        return contains_any(t.key) or contains_any(t.value)
    return False
