"""Names that older run files used, read as today's, so that an old store still loads and groups with new runs.

* The unreduced model was stored as method ``bert-base`` in published rows; it is ``vanilla`` everywhere now.
* Focus-on-the-Core rows stored the paper's names in ``method_config`` (``combining_layer``, ``p``,
  ``combination_tokens``); they are ``FocusCoreConfig``'s field names now.

Only reading translates: a new row that uses an old name is refused (see ``schema.validate_record``), so
that no file gains rows in two vocabularies.
"""

from __future__ import annotations

LEGACY_METHODS = {"bert-base": "vanilla"}  # old method key -> today's
LEGACY_CONFIG_KEYS = {  # method -> {old method_config key -> today's}
    "focus-core": {"combining_layer": "combine_layer", "p": "keep_ratio", "combination_tokens": "num_combine_tokens"},
}


def upgrade(record: dict) -> dict:
    """``record`` with today's names (a new dict when anything changed; other values untouched)."""
    if not isinstance(record, dict):
        return record  # not a row: the validator says so
    method = LEGACY_METHODS.get(record.get("method"), record.get("method"))
    renames = LEGACY_CONFIG_KEYS.get(method, {})
    config = record.get("method_config")
    if method == record.get("method") and not (isinstance(config, dict) and renames.keys() & config.keys()):
        return record
    record = dict(record, method=method)
    if isinstance(config, dict):
        record["method_config"] = {renames.get(key, key): value for key, value in config.items()}
    return record
