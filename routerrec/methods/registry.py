"""The registry of completion methods: what each method module brings, in one place.

A method module registers, when it is imported, its fitter and the feedback kind its records
must be (``@register_method``), the link its models predict through with that link's fold-in
solver (``register_link``), and the ``Model`` subclass its saved directories load as
(``@register_model_kind``). ``routerrec.methods`` imports every method module, so these
tables are complete whenever anything in the package is in use; ``Model``, ``load_model``
and ``fit`` only read them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Method", "Link", "METHODS", "LINKS", "MODEL_KINDS", "FEEDBACK_KINDS",
           "DEFAULT_ENGINE", "register_method", "register_link", "register_model_kind",
           "check_feedback"]

# explicit: a stored value is a score, a missing cell is unknown; implicit: a stored value is
# a confidence that the pair was chosen, a missing cell means "not chosen"
FEEDBACK_KINDS = ("explicit", "implicit")
DEFAULT_ENGINE = "numba"


@dataclass(frozen=True)
class Method:
    """A registered method: ``engines`` maps an engine name to its fitter
    ``fit(records, **params) -> Model``; ``feedback`` is the kind of records it reads."""

    name: str
    feedback: str
    engines: dict[str, Callable] = field(default_factory=dict)

    def __call__(self, records, **params):
        """Fit with the default engine, so ``METHODS[name](records)`` fits as it always did."""
        return self.engines[DEFAULT_ENGINE](records, **params)


@dataclass(frozen=True)
class Link:
    """How a linear predictor becomes a score (``inverse``; calling the link applies it) and
    how a new row is solved with the other side fixed: ``fold_in(model, side, index, values)
    -> (factors, bias[, cov])``, ``cov`` the posterior covariance of ``[factors, bias]``
    when the solver has one (cold start uses it for intervals); None: no fold-in."""

    name: str
    inverse: Callable
    fold_in: Callable | None

    def __call__(self, linear):
        return self.inverse(linear)


METHODS: dict[str, Method] = {}
LINKS: dict[str, Link] = {}
MODEL_KINDS: dict[str, type] = {}  # manifest "kind" -> Model subclass (its from_saved loads it)


def register_method(name: str, *, feedback: str = "explicit", engine: str = DEFAULT_ENGINE):
    """Decorator registering ``fit`` as method ``name`` run by ``engine``.

    The function it returns refuses records of the other feedback kind before fitting, so
    the rule holds however the method is reached (``routerrec.fit`` or its module's ``fit``).
    """
    if feedback not in FEEDBACK_KINDS:
        raise ValueError(f"feedback must be one of {FEEDBACK_KINDS}, not {feedback!r}")
    spec = METHODS.setdefault(name, Method(name, feedback))
    if spec.feedback != feedback:
        raise ValueError(f"method {name!r} reads {spec.feedback} feedback, not {feedback}")

    def register(fit: Callable) -> Callable:
        if engine in spec.engines:
            raise ValueError(f"method {name!r} already has an engine {engine!r}")

        @functools.wraps(fit)
        def checked(records, **params):
            check_feedback(records, name)
            return fit(records, **params)

        spec.engines[engine] = checked
        return checked

    return register


def register_link(name: str, inverse: Callable, fold_in: Callable | None) -> Link:
    """Register link ``name`` (see ``Link``)."""
    if name in LINKS:
        raise ValueError(f"link {name!r} is already registered")
    LINKS[name] = Link(name, inverse, fold_in)
    return LINKS[name]


def register_model_kind(cls: type) -> type:
    """Class decorator: a saved model whose manifest's ``kind`` is ``cls.kind`` loads as
    ``cls.from_saved(manifest, arrays)``."""
    if MODEL_KINDS.get(cls.kind, cls) is not cls:
        raise ValueError(f"model kind {cls.kind!r} is already registered")
    MODEL_KINDS[cls.kind] = cls
    return cls


_EXPLICIT_ON_IMPLICIT = (
    "method {method!r} fits explicit scores (a missing cell is unknown, a stored 0 means "
    "'incorrect'), but these records are implicit feedback (a log of which model was "
    "chosen; missing means 'not chosen'). Use an implicit-feedback method ({others}) for "
    "them, or load scores with feedback='explicit'.")
_IMPLICIT_ON_EXPLICIT = (
    "method {method!r} needs implicit feedback (pass feedback='implicit', on the command line "
    "--feedback implicit). These records are explicit scores: an implicit-feedback method "
    "would turn every missing cell into a target of 0 and drop every stored 0 (an incorrect "
    "answer), so it would learn which cells were evaluated rather than how well (on scores "
    "its held-out error is far above explicit ALS's). Use an explicit method ({others}) for "
    "scores.")


def check_feedback(records, method: str) -> None:
    """Raise ``ValueError`` when ``method`` would misread the records' feedback kind
    (records without a ``feedback`` attribute are explicit scores)."""
    wanted = METHODS[method].feedback
    if getattr(records, "feedback", "explicit") == wanted:
        return
    others = ", ".join(sorted(m for m, s in METHODS.items() if s.feedback != wanted))
    message = _IMPLICIT_ON_EXPLICIT if wanted == "implicit" else _EXPLICIT_ON_IMPLICIT
    raise ValueError(message.format(method=method, others=others))
