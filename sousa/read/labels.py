"""Label values of split-table rows by the labels-JSON type rule, fast: `label_converter`.

The staged builder converts a row with `json_labels` (encode to labels JSON, decode); this
gives the same values without encoding what JSON holds exactly. Used by `sousa.load`'s builder
(`sousa.read.package_builder`) and `sousa.fetch`; not staged.
"""

from __future__ import annotations

import math

import pyarrow as pa

from .builder import json_labels, label_columns

__all__ = ["label_converter"]

_EXACT_IN_JSON = (
    pa.types.is_integer,
    pa.types.is_boolean,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_null,
)


def label_converter(schema: pa.Schema):
    """`json_labels` for the rows of one label schema: integers, bool, strings and nulls pass
    through (JSON gives them back unchanged); a float column only loses NaN and infinities;
    every other column goes through `json_labels`. A test checks the result equals
    `json_labels` on a row of every type."""
    rules = []  # (column, rule) in schema order: "exact", "float" or "json"
    for name in label_columns(schema):
        t = schema.field(name).type
        value = t.value_type if pa.types.is_dictionary(t) else t
        exact = any(is_(value) for is_ in _EXACT_IN_JSON)
        rules.append(
            (name, "exact" if exact else "float" if pa.types.is_floating(value) else "json")
        )

    def convert(row: dict) -> dict:
        out = {}
        for name, rule in rules:
            value = row[name]
            if rule == "float" and value is not None and not math.isfinite(value):
                value = None
            elif rule == "json":
                value = json_labels({name: value})[name]
            out[name] = value
        return out

    return convert
