"""Declarative parameter types: one spec per parameter gives validation, help text and CLI parsing.

Each type checks a value (``check(name, value, values)`` returns it converted, or raises the
engine's usual ValueError naming the field and its range), describes itself for help text
(``describe(values)``) and parses a command-line string (``parse(text)``). A bound or a list of
options may be a callable of the other values (``values``, a dict of the parameters checked so far),
evaluated when the check runs: ``Int(10, lambda v: n_train_available(v["dataset"]))``. Options may
be a registry dict (its keys are read at each check) or a zero-argument callable.

    >>> Int(1, 100).check("depth", 0)
    Traceback (most recent call last):
    ValueError: depth must be an integer in [1, 100]; got 0
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping

import numpy as np

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _value(bound, values):
    """A bound or option list: called with ``values`` (or with nothing, if it takes no argument) when callable."""
    if not callable(bound):
        return bound
    try:
        takes_values = bool(inspect.signature(bound).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        takes_values = True
    return bound(values or {}) if takes_values else bound()


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _integral(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class Param:
    """One parameter type. Subclasses define :meth:`check`, :meth:`describe` and :meth:`parse`."""

    def check(self, name: str, value, values: dict | None = None):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self, values: dict | None = None) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, text: str):  # pragma: no cover - abstract
        raise NotImplementedError

    def bounds(self, values: dict | None = None) -> tuple:
        """(lo, hi) of a ranged type, for slider bounds."""
        raise TypeError(f"{type(self).__name__} has no range")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


class Int(Param):
    """An integer in [lo, hi] (either bound may be a callable of the other values)."""

    kind, noun = "an integer", "integers"

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def bounds(self, values=None):
        return _value(self.lo, values), _value(self.hi, values)

    def _ok(self, value) -> bool:
        return _integral(value)

    def _convert(self, value):
        return int(value)

    def _interval(self, values) -> str:
        lo, hi = self.bounds(values)
        return f"[{lo}, {hi}]"

    def _in(self, value, values) -> bool:
        lo, hi = self.bounds(values)
        return lo <= value <= hi

    def check(self, name, value, values=None):
        if not self._ok(value) or not math.isfinite(value) or not self._in(value, values):
            raise ValueError(f"{name} must be {self.kind} in {self._interval(values)}; got {value!r}")
        return self._convert(value)

    def describe(self, values=None):
        return f"{self.kind.split(' ', 1)[1]} in {self._interval(values)}"

    def describe_many(self, values=None):
        return f"{self.noun} in {self._interval(values)}"

    def parse(self, text):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer; got {text!r}") from None


class Float(Int):
    """A finite number in [lo, hi] (``lo_open=True``: in (lo, hi])."""

    kind, noun = "a number", "numbers"

    def __init__(self, lo, hi, lo_open: bool = False):
        super().__init__(lo, hi)
        self.lo_open = lo_open

    def _ok(self, value):
        return _real(value)

    def _convert(self, value):
        return float(value)

    def _interval(self, values):
        lo, hi = self.bounds(values)
        return f"{'(' if self.lo_open else '['}{lo}, {hi}]"

    def _in(self, value, values):
        lo, hi = self.bounds(values)
        return (lo < value if self.lo_open else lo <= value) and value <= hi

    def parse(self, text):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number; got {text!r}") from None


class Bool(Param):
    """True or False (NumPy booleans are accepted and converted)."""

    def check(self, name, value, values=None):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {value!r}")
        return bool(value)

    def describe(self, values=None):
        return "true or false"

    def parse(self, text):
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true or false; got {text!r}")


class OneOf(Param):
    """One name among ``options``: names, a registry dict (its keys) or a callable returning either."""

    def __init__(self, *options):
        one = options[0] if len(options) == 1 else None
        self.options = options if one is None or isinstance(one, str) else one

    def choices(self, values=None) -> tuple:
        """The allowed names, read now (so a registry entry added later is included)."""
        opts = _value(self.options, values)
        return tuple(opts.keys() if isinstance(opts, Mapping) else opts)

    def check(self, name, value, values=None):
        allowed = self.choices(values)
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def describe(self, values=None):
        return f"one of {', '.join(self.choices(values))}"

    def describe_many(self, values=None):
        return f"names from {', '.join(self.choices(values))}"

    def parse(self, text):
        return text.strip()


class Optional(Param):
    """``inner`` or None (``none_means`` says what None does, for help text)."""

    def __init__(self, inner: Param, none_means: str = ""):
        self.inner, self.none_means = inner, none_means

    def check(self, name, value, values=None):
        return None if value is None else self.inner.check(name, value, values)

    def bounds(self, values=None):
        return self.inner.bounds(values)

    def describe(self, values=None):
        extra = f" ({self.none_means})" if self.none_means else ""
        return f"{self.inner.describe(values)}, or none{extra}"

    def parse(self, text):
        return None if text.strip().lower() in ("none", "") else self.inner.parse(text)


class ListOf(Param):
    """A tuple of ``min_len``..``max_len`` items of type ``item``; one bare item counts as a list of one.

    ``unique`` drops repeats (first kept); ``sort`` sorts the result. The CLI form is comma-separated.
    """

    def __init__(self, item: Param, min_len: int = 1, max_len: int | None = None, unique=True, sort=False):
        self.item, self.min_len, self.max_len, self.unique, self.sort = item, min_len, max_len, unique, sort

    def _len_text(self) -> str:
        if self.max_len is None:
            return {0: "", 1: "one or more "}.get(self.min_len, f"at least {self.min_len} ")
        return f"{self.min_len}-{self.max_len} "

    def check(self, name, value, values=None):
        items = tuple(value) if isinstance(value, (tuple, list, np.ndarray, range)) else (value,)
        hi = self.max_len if self.max_len is not None else math.inf
        if not self.min_len <= len(items) <= hi:
            raise ValueError(f"{name} must be a {self.describe(values)}; got {len(items)} items")
        out = tuple(self.item.check(name, v, values) for v in items)
        if self.unique:
            out = tuple(dict.fromkeys(out))
        return tuple(sorted(out)) if self.sort else out

    def describe(self, values=None):
        many = getattr(self.item, "describe_many", None)
        return f"list of {self._len_text()}{many(values) if many else self.item.describe(values)}"

    def bounds(self, values=None):
        return self.item.bounds(values)

    def parse(self, text):
        return tuple(self.item.parse(t) for t in text.split(",") if t.strip())


def validate(spec: dict, values: dict) -> dict:
    """``values`` checked and converted by ``spec``, in the spec's order (later bounds see earlier values).

    Names without a spec pass through unchanged.
    """
    out = dict(values)
    for name, param in spec.items():
        if name in out:
            out[name] = param.check(name, out[name], out)
    return out
