"""The Hub's documented rules for a dataset card's YAML, as the emulator's validate-yaml checks.

Sources (the Hub's validator itself is not public):
- license ids: hub-docs `docs/hub/repositories-licenses.md` (the table between its
  `region licenses` comments); `license: other` wants `license_name`.
- `configs`: hub-docs `datasetcard.md` and `datasets-manual-configuration.md`, and what
  `datasets` (`MetadataConfigs`, `DataFilesDict`) refuses: a list of mappings, each with a
  unique `config_name`; `data_files` a string, a list of strings, or a list of
  `{split, path}` with `path` a string or a list of strings; split names `\\w+(\\.\\w+)*`
  ("some symbols like dashes '-' are not allowed in split names"); at most one `default: true`.
- `dataset_info`: a mapping, or a list of them each with a `config_name`; `features` a list of
  `{name, dtype|struct|list|sequence|class_label}`; `splits` a list of
  `{name, num_bytes, num_examples}` with non-negative integers.
"""

from __future__ import annotations

import functools
import re

import yaml

LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
    bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause
    bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0
    cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
    cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0
    etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc
    lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense
    zlib pddl lgpl-lr deepfloyd-if-license llama2 gemma unknown other""".split()  # noqa: SIM905
)
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
FEATURE_KINDS = ("dtype", "struct", "list", "large_list", "sequence", "class_label")


FRONT_MATTER = re.compile(r"^---\s*\n(.*?)\n---\s*(\n|$)", re.S)
# yaml.safe_load's rules, parsed by libyaml when PyYAML has it (read only: cached by text)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=32)
def front_matter(content: str) -> object:
    """A README.md's YAML front matter as ``yaml.safe_load`` reads it (None without one);
    raises ``yaml.YAMLError``. The result is shared: read it, do not change it."""
    match = FRONT_MATTER.match(content)
    return yaml.load(match.group(1), Loader=_LOADER) if match else None  # noqa: S506


def card_errors(content: str) -> list[str]:
    """What the Hub would refuse in a README.md's YAML front matter (empty: accepted)."""
    try:
        meta = front_matter(content)
    except yaml.YAMLError as e:
        return [f"Invalid YAML: {e}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["YAML metadata must be a mapping"]
    return _license(meta) + _configs(meta.get("configs")) + _dataset_info(meta.get("dataset_info"))


def _license(meta: dict) -> list[str]:
    value = meta.get("license")
    if value is None:
        return []
    ids = value if isinstance(value, list) else [value]
    errors = [
        f'"license" must be one of the Hub\'s license ids, got {i!r}'
        for i in ids
        if i not in LICENSES
    ]
    if "other" in ids and not meta.get("license_name"):
        errors.append('"license: other" needs "license_name"')
    return errors


def _configs(configs) -> list[str]:
    if configs is None:
        return []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        return ['"configs" must be a list of mappings with "config_name"']
    errors, names = [], []
    for c in configs:
        name = c.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append('"configs": every config needs a "config_name" string')
        names.append(name)
        errors += _data_files(name, c.get("data_files"))
    errors += [
        f'"configs": config_name {n!r} is repeated' for n in set(names) if names.count(n) > 1
    ]
    if sum(bool(c.get("default")) for c in configs) > 1:
        errors.append('"configs": more than one config has "default: true"')
    return errors


def _data_files(config, data_files) -> list[str]:
    if data_files is None or isinstance(data_files, str):
        return []
    bad = (
        f'"configs" {config!r}: "data_files" must be a string, a list of strings '
        "or a list of {split, path}"
    )
    if not isinstance(data_files, list):
        return [bad]
    errors = []
    for entry in data_files:
        if isinstance(entry, str):
            continue
        if not isinstance(entry, dict) or set(entry) != {"split", "path"}:
            return [bad]
        split, path = entry["split"], entry["path"]
        if not isinstance(split, str) or not SPLIT_NAME.match(split):
            errors.append(f'"configs" {config!r}: split name {split!r} must match \\w+(\\.\\w+)*')
        paths = path if isinstance(path, list) else [path]
        if not paths or not all(isinstance(p, str) and p for p in paths):
            errors.append(f'"configs" {config!r}: split {split!r} needs a path string or list')
    return errors


def _dataset_info(info) -> list[str]:
    if info is None:
        return []
    infos = info if isinstance(info, list) else [info]
    if not all(isinstance(i, dict) for i in infos):
        return ['"dataset_info" must be a mapping or a list of mappings']
    errors = []
    if len(infos) > 1 and not all(isinstance(i.get("config_name"), str) for i in infos):
        errors.append('"dataset_info": with several entries, each needs a "config_name"')
    for i in infos:
        where = f'"dataset_info" {i.get("config_name", "default")!r}'
        features = i.get("features", [])
        if not isinstance(features, list) or not all(_feature_ok(f) for f in features):
            errors.append(
                f"{where}: each feature needs a name and one of {', '.join(FEATURE_KINDS)}"
            )
        for s in i.get("splits", []) or []:
            if not isinstance(s, dict) or not isinstance(s.get("name"), str):
                errors.append(f"{where}: each split needs a name")
            elif not all(
                isinstance(s.get(k, 0), int) and s.get(k, 0) >= 0
                for k in ("num_bytes", "num_examples")
            ):
                errors.append(
                    f"{where}: split {s['name']!r}: num_bytes/num_examples must be integers >= 0"
                )
    return errors


def _feature_ok(feature) -> bool:
    return (
        isinstance(feature, dict)
        and isinstance(feature.get("name"), str)
        and any(k in feature for k in FEATURE_KINDS)
    )
