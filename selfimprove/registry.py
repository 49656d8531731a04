"""Kinds of one family (filters, schedules): a config mapping ``{kind: NAME, **options}`` <-> an object.

A family is a ``Registry``; a kind is a frozen dataclass registered under its name, which is all
a new filter or schedule needs besides its class (``filters.py``, ``schedules.py``)::

    >>> from dataclasses import dataclass
    >>> PETS = Registry("pet", example="{kind: cat}")
    >>> @PETS.register("cat")
    ... @dataclass(frozen=True)
    ... class Cat:
    ...     lives: int = 9
    >>> cat = PETS.parse({"kind": "cat", "lives": 7})
    >>> cat, as_config(cat), PETS.kind_of(cat)
    (Cat(lives=7), {'kind': 'cat', 'lives': 7}, 'cat')
    >>> PETS.parse({"kind": "cat", "lives": True})
    Traceback (most recent call last):
    ValueError: pet 'cat': lives has the wrong type (True)

``parse`` checks the kind, the option names and their types (from the dataclass's annotations:
``bool`` is not an ``int``, an ``int`` is a fine ``float``, a YAML list is a fine ``tuple``) and
runs the class's own checks, so every mistake is one ``ValueError`` naming the family, the kind and
the option. The mapping an object was parsed from is kept beside it and is what ``as_config``
gives back: a run directory's config.yaml then holds the options exactly as the user wrote them
(a resume compares those files, and older versions of the package read them). An object built in
code has no such mapping and is written with every field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Union

_OWNERS: dict[type, tuple[Registry, str]] = {}  # registered class -> (its family, its kind)
_SOURCE = "_config_source"  # attribute holding the mapping an object was parsed from


class Registry:
    """The kinds of one family, by name."""

    def __init__(self, family: str, example: str) -> None:
        self.family = family  # "filter", "schedule": how messages name a member
        self.example = example  # a valid mapping, shown when something else is given
        self.kinds: dict[str, type] = {}

    def register(self, kind: str) -> Callable[[type], type]:
        """Class decorator: ``@FILTERS.register("length")``."""

        def add(cls: type) -> type:
            if kind in self.kinds:
                raise ValueError(f"{self.family} kind {kind!r} is registered twice")
            self.kinds[kind] = cls
            _OWNERS[cls] = (self, kind)
            return cls

        return add

    def parse(self, config: Mapping[str, Any]) -> Any:
        """``{"kind": K, **options}`` -> the kind's object; a ``ValueError`` naming what is wrong."""
        options = dict(config)
        kind = options.pop("kind", None)
        if kind not in self.kinds:
            raise ValueError(f"unknown {self.family} kind {kind!r}; choose one of: {', '.join(self.kinds)}")
        cls = self.kinds[kind]
        hints = typing.get_type_hints(cls)
        known = [f.name for f in dataclasses.fields(cls)]
        for key, value in options.items():
            if key not in known:
                raise ValueError(f"unknown key {key!r} for {self.family} {kind!r}; known: {', '.join(known) or 'none'}")
            if not _fits(value, hints[key]):
                raise ValueError(f"{self.family} {kind!r}: {key} has the wrong type ({value!r})")
        try:
            made = cls(**options)
        except (TypeError, ValueError) as err:  # TypeError: a required option is missing
            raise ValueError(f"{self.family} {kind!r}: {err}") from None
        object.__setattr__(made, _SOURCE, dict(config))  # frozen dataclasses allow it this way only
        return made

    def kind_of(self, obj: Any) -> str:
        """The name ``obj``'s class is registered under (for messages)."""
        owner = _OWNERS.get(type(obj))
        if owner is None or owner[0] is not self:
            raise TypeError(f"not a registered {self.family}: {obj!r}")
        return owner[1]


def as_config(obj: Any) -> dict | None:
    """The config mapping of a registered object (``None`` for anything else)."""
    owner = _OWNERS.get(type(obj))
    if owner is None:
        return None
    source = getattr(obj, _SOURCE, None)
    if source is not None:
        return dict(source)
    return {"kind": owner[1], **{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a config value has the annotated type; types the loader cannot judge pass (the
    class's own ``__post_init__`` checks them)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        allowed = (int,) if hint is int else (int, float)
        return isinstance(value, allowed) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if (origin or hint) in (tuple, list):
        return isinstance(value, (list, tuple))
    return True
