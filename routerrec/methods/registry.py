"""The registry of completion methods: what each method module brings, in one place.

A method module registers, when it is imported, its fitter with the feedback kind its records
must be, the declaration of its parameters (one check per parameter, next to its DEFAULTS)
and an estimate of the memory a fit needs (``@register_method``); the link its models predict
through with that link's fold-in solver (``register_link``); and the ``Model`` subclass its
saved directories load as (``@register_model_kind``). ``routerrec.methods`` imports every
method module, so these tables are complete whenever anything in the package is in use;
``Model``, ``load_model`` and ``fit`` only read them.

Every fit, however it is reached (``routerrec.fit``, ``METHODS[name](...)``, a module's
``fit``), goes through the function ``register_method`` returns, which checks the records,
each parameter against the declaration and the memory estimate against
``routerrec.util.limits`` before the fitter runs: the fitters themselves trust their input.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numba

from ..data.bigmatrix import LargeRecords
from ..data.records import Records
from ..util import validate
from ..util.limits import check_bytes

__all__ = ["Method", "Link", "METHODS", "LINKS", "MODEL_KINDS", "FEEDBACK_KINDS",
           "DEFAULT_ENGINE", "register_method", "register_link", "register_model_kind",
           "check_feedback", "check_records", "count", "number", "one_of",
           "seed", "SEED", "FLAG", "factor_memory"]

# explicit: a stored value is a score, a missing cell is unknown; implicit: a stored value is
# a confidence that the pair was chosen, a missing cell means "not chosen"
FEEDBACK_KINDS = ("explicit", "implicit")
DEFAULT_ENGINE = "numba"

# A parameter's check: ``check(what, value)`` returns the value to use or raises TypeError /
# ValueError with one sentence naming ``what`` (the checks of ``routerrec.util.validate``).
Check = Callable[[str, object], object]


def count(low: int = 1) -> Check:
    """An integer >= ``low`` (a rank, a number of iterations)."""
    return functools.partial(validate.integer, low=low)


def number(low=None, high=None, *, low_open: bool = False, high_open: bool = False) -> Check:
    """A finite real number within the bounds (a regularisation, a learning rate)."""
    return functools.partial(validate.real, low=low, high=high, low_open=low_open,
                             high_open=high_open)


def one_of(*options: str) -> Check:
    """One of the strings ``options`` (a method's ``kind``)."""
    return functools.partial(validate.choice, options=options)


def seed(bits: int | None = None) -> Check:
    """A non-negative integer, below ``2**bits`` for a generator that takes no more
    (numpy's legacy RandomState: 32; Spark's Java long: 63)."""
    return functools.partial(validate.integer, low=0, high=None if bits is None else 2**bits - 1)


SEED = seed()  # numpy's default_rng takes any non-negative integer
FLAG = validate.flag
_COMMON = {"progress": FLAG}  # every fitter takes progress= (a progress bar or none)


def factor_memory(*, row_solves: bool = True) -> Callable[..., tuple[int, str]]:
    """The ``memory`` estimate of a factor method (see ``register_method``): three copies of
    the augmented factors of both sides at its rank (times its ``members``, float32), a
    (rank+1)^2 system per parallel task when rows are solved in closed form (float64, up to
    8 tasks per numba thread, as ``kernels.linalg.run_rows`` deals them), and the factor rows
    gathered for 2^20 cells at a time (the training residual)."""
    def memory(n_prompts: int, n_models: int, n_records: int, params: dict):
        rank = params["rank"] * params.get("members", 1)
        k1 = rank + 1
        systems = (8 * numba.get_num_threads() + 1) * k1 * k1 * 8 if row_solves else 0
        nbytes = (3 * (n_prompts + n_models) * k1 * 4 + systems
                  + 2 * min(n_records, 1 << 20) * rank * 4)
        return nbytes, f"choose a smaller rank than {params['rank']} (--rank)"

    return memory


@dataclass(frozen=True)
class Method:
    """A registered method: ``engines`` maps an engine name to its (checked) fitter
    ``fit(records, **params) -> Model``, ``params`` an engine name to the declaration of its
    parameters (name -> check); ``feedback`` is the kind of records it reads."""

    name: str
    feedback: str
    engines: dict[str, Callable] = field(default_factory=dict)
    params: dict[str, dict[str, Check]] = field(default_factory=dict)

    def __call__(self, records, **params):
        """Fit with the default engine, so ``METHODS[name](records)`` fits as it always did."""
        return self.engines[DEFAULT_ENGINE](records, **params)

    def check_params(self, params: Mapping, engine: str = DEFAULT_ENGINE) -> dict:
        """``params`` checked against the declaration (the values to fit with): an unknown
        name is a TypeError naming the valid ones, a bad value a TypeError / ValueError
        naming the parameter. Callers that fit later (the CLI) call it before loading data."""
        declared = self.params[engine]
        label = self.name if engine == DEFAULT_ENGINE else f"{self.name} (engine {engine})"
        unknown = [k for k in params if k not in declared]
        if unknown:
            raise TypeError(f"method {label} has no parameter "
                            f"{', '.join(repr(k) for k in unknown)}; its parameters are "
                            f"{', '.join(declared)}")
        return {k: declared[k](f"{label} parameter {k}", v) for k, v in params.items()}


@dataclass(frozen=True)
class Link:
    """How a linear predictor becomes a score (``inverse``; calling the link applies it) and
    how a new row is solved with the other side fixed: ``fold_in(model, side, index, values)
    -> (factors, bias[, cov])``, ``cov`` the posterior covariance of ``[factors, bias]``
    when the solver has one (cold start uses it for intervals); None: no fold-in.
    ``unit``: its scores are probabilities, so answers folded in must lie in [0, 1]."""

    name: str
    inverse: Callable
    fold_in: Callable | None
    unit: bool = False

    def __call__(self, linear):
        return self.inverse(linear)


METHODS: dict[str, Method] = {}
LINKS: dict[str, Link] = {}
MODEL_KINDS: dict[str, type] = {}  # manifest "kind" -> Model subclass (its from_saved loads it)


def register_method(name: str, *, feedback: str = "explicit", engine: str = DEFAULT_ENGINE,
                    params: Mapping[str, Check] | None = None,
                    memory: Callable[..., tuple[int, str]] | None = None):
    """Decorator registering ``fit`` as method ``name`` run by ``engine``.

    ``params`` declares every keyword parameter of ``fit`` (name -> check: ``count``,
    ``number``, ``one_of``, ``seed``, ``FLAG`` or any check of
    ``routerrec.util.validate``) but ``progress``, which every fitter takes.
    ``memory(n_prompts, n_models, n_records, params)`` returns the bytes a fit with
    ``params`` (defaults filled in) would allocate and what to do instead when that is too
    much. The function it returns checks the records (type and
    feedback kind), the parameters and the memory before calling ``fit``, so the rules hold
    however the method is reached (``routerrec.fit`` or its module's ``fit``).
    """
    if feedback not in FEEDBACK_KINDS:
        raise ValueError(f"feedback must be one of {FEEDBACK_KINDS}, not {feedback!r}")
    known = METHODS.get(name)
    if known is not None and known.feedback != feedback:
        raise ValueError(f"method {name!r} reads {known.feedback} feedback, not {feedback}")

    def register(fit: Callable) -> Callable:
        if engine in getattr(METHODS.get(name), "engines", ()):
            raise ValueError(f"method {name!r} already has an engine {engine!r}")
        declared = {**(params or {}), **_COMMON}
        signature = inspect.signature(fit).parameters
        keywords = {k: p.default for k, p in signature.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY}
        if set(keywords) != set(declared):
            raise ValueError(f"method {name!r}: the declared parameters {sorted(declared)} "
                             f"are not the keyword parameters of its fit {sorted(keywords)}")
        declared = {k: declared[k] for k in keywords}  # in the fitter's order, for messages
        spec = METHODS.setdefault(name, Method(name, feedback))

        @functools.wraps(fit)
        def checked(records, **given):
            check_records(records, name)
            values = spec.check_params(given, engine)
            check_feedback(records, name)
            if memory is not None:
                n_p, n_m, n = records.n_prompts, records.n_models, records.n_records
                nbytes, advice = memory(n_p, n_m, n, {**keywords, **values})
                check_bytes(nbytes, f"fitting method {name!r} on {n_p:,} prompts x {n_m:,} "
                                    f"models", advice=advice)
            return fit(records, **values)

        spec.engines[engine] = checked
        spec.params[engine] = declared
        return checked

    return register


def register_link(name: str, inverse: Callable, fold_in: Callable | None, *,
                  unit: bool = False) -> Link:
    """Register link ``name`` (see ``Link``)."""
    if name in LINKS:
        raise ValueError(f"link {name!r} is already registered")
    LINKS[name] = Link(name, inverse, fold_in, unit)
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


def check_records(records, method: str) -> None:
    """Raise ``TypeError`` unless ``records`` is what every fitter reads."""
    if not isinstance(records, (Records, LargeRecords)):
        raise TypeError(f"method {method!r} fits routerrec Records (load_records, "
                        f"records_from_frame, load_sample or scan_records), got "
                        f"{type(records).__name__}")


def check_feedback(records, method: str) -> None:
    """Raise ``ValueError`` when ``method`` would misread the records' feedback kind
    (records without a ``feedback`` attribute are explicit scores)."""
    wanted = METHODS[method].feedback
    if getattr(records, "feedback", "explicit") == wanted:
        return
    others = ", ".join(sorted(m for m, s in METHODS.items() if s.feedback != wanted))
    message = _IMPLICIT_ON_EXPLICIT if wanted == "implicit" else _EXPLICIT_ON_IMPLICIT
    raise ValueError(message.format(method=method, others=others))
