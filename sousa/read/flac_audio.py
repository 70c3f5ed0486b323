"""The audio feature of the staged builder: FLAC bytes in Arrow, decoded with soundfile.

`FlacAudio` is a `datasets` feature type whose Arrow storage is `struct{bytes, path}` (like
`Audio`'s) and whose `decode_example` uses soundfile, so the cache written by
`download_and_prepare` holds the FLAC bytes, not decoded PCM, and decoding needs no torch.
`register_flac_audio` names it so that a cached `dataset_info.json` reads back. Part of the
staged builder: `sousa.write.builder_file` inlines it (with `sousa.layout`) into
`builder/sousa.py`; it imports nothing of `sousa`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets
import pyarrow as pa
import soundfile as sf

FEATURE_TYPE = "SousaFlacAudio"


class SousaDataError(ValueError):
    """The staging folder's data is inconsistent or corrupt; the message names the file."""


def decode_flac(data: bytes, name: str | None, shard: str | None = None) -> dict:
    """FLAC bytes → `{"array": float32 ndarray, "sampling_rate": int, "path": name}`."""
    try:
        array, sampling_rate = sf.read(io.BytesIO(data), dtype="float32")
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError …
        where = f" in shard {shard!r}" if shard else ""
        raise SousaDataError(f"corrupt FLAC member {name!r}{where}: {err}") from err
    return {"array": array, "sampling_rate": int(sampling_rate), "path": name}


@dataclass
class FlacAudio:
    """Audio as FLAC bytes (`struct{bytes, path}`), decoded with soundfile, encoded as is."""

    decode: bool = True
    dtype: ClassVar[str] = "dict"
    pa_type: ClassVar[Any] = pa.struct({"bytes": pa.binary(), "path": pa.string()})
    _type: str = field(default=FEATURE_TYPE, init=False, repr=False)

    def __call__(self):
        return self.pa_type

    def encode_example(self, value) -> dict:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return {"bytes": bytes(value), "path": None}
        if isinstance(value, dict) and "array" not in value:
            return {"bytes": value.get("bytes"), "path": value.get("path")}
        raise TypeError(f"FlacAudio cannot encode a {type(value).__name__}")

    def decode_example(self, value: dict, token_per_repo_id=None) -> dict:
        if value.get("bytes") is None:
            raise SousaDataError(f"audio {value.get('path')!r} has no bytes")
        return decode_flac(value["bytes"], value.get("path"))

    def cast_storage(self, storage: pa.Array) -> pa.StructArray:
        if pa.types.is_binary(storage.type) or pa.types.is_large_binary(storage.type):
            data = storage.cast(pa.binary())
            paths = pa.nulls(len(data), pa.string())
            return pa.StructArray.from_arrays([data, paths], ["bytes", "path"], mask=data.is_null())
        return storage.cast(self.pa_type)

    def embed_storage(self, storage: pa.StructArray, **kwargs) -> pa.StructArray:
        return storage.cast(self.pa_type)  # the bytes are always embedded already


def register_flac_audio() -> bool:
    """Name `FlacAudio` for cached `dataset_info.json`s (True if known): guarded, since `datasets`
    does not export it; without it streaming is unchanged, a prepared cache fails to read."""
    try:
        return bool(datasets.Features.from_dict({"a": {"_type": FEATURE_TYPE}}))  # known
    except (ValueError, KeyError, TypeError):
        try:
            from datasets.features.features import register_feature
        except ImportError:
            return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it is marked experimental
        register_feature(FlacAudio, FEATURE_TYPE)
    return True
