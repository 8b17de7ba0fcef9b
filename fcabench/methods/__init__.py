"""Token-reduction methods as in-place patches of Hugging Face BERT.

>>> from fcabench import methods
>>> methods.names()
['vanilla', 'fca', 'focus-core', 'ltp', 'power-bert', ...]
>>> methods.apply(model, "fca", retention=(34, 33, 32, 32, 31, 30, 30, 30, 30, 29, 28, 28), clusters=5)

Every module of this package is imported on first use and registers what it defines, so a new method
is one new file. A method in a user's own module registers the same way (``@methods.register``) or is
named ``"package.module:ClassName"`` wherever a method name is accepted (``--method`` on the CLI), or
is declared as an entry point of the group ``fcabench.methods``.
"""

from fcabench.methods.configs import config_from_dict, config_label, config_to_dict, describe
from fcabench.methods.method import DERIVED, Method, Stage
from fcabench.methods.registry import (
    applied,
    apply,
    get,
    make_config,
    method_of,
    names,
    parse_options,
    register,
    unit_record,
)

__all__ = [
    "DERIVED",
    "Method",
    "Stage",
    "applied",
    "apply",
    "config_from_dict",
    "config_label",
    "config_to_dict",
    "describe",
    "get",
    "make_config",
    "method_of",
    "names",
    "parse_options",
    "register",
    "unit_record",
]
