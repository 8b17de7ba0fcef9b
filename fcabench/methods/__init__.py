"""Token-reduction methods as in-place patches of Hugging Face BERT.

>>> from fcabench import methods
>>> methods.names()
['vanilla', 'power-bert', 'fca', ...]
>>> methods.apply(model, "fca", retention=(34, 33, 32, 32, 31, 30, 30, 30, 30, 29, 28, 28), clusters=5)

Importing a method's module registers it; the order of imports is the order of ``names()``.
"""

from fcabench.methods.registry import Method, applied, apply, get, make_config, names, parse_options, register, unit_record
from fcabench.methods import vanilla, power_bert, fca, focus_core, token_drop, ltp  # noqa: E402,F401  (registration)

__all__ = ["Method", "applied", "apply", "get", "make_config", "names", "parse_options", "register", "unit_record"]
