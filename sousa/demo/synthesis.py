"""Audio for the demo: snare hits mixed over room tone, panned by hand, encoded as FLAC.

Crude on purpose (a noise burst plus a pitched body per hit, one template bank per soundfont,
a one-tap echo and a noise floor per augmentation preset): the demo needs real FLAC files of
the generator's format (44.1 kHz, stereo, 24-bit by default), not music. Everything comes from
numpy Generators, so the same seed gives the same samples.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from .performance import Performance

SAMPLE_RATE = 44_100
SUBTYPES = {"PCM_16": 16, "PCM_24": 24}  # FLAC subtype → bits per sample
_TEMPLATE_SEC = 0.2
_N_VARIANTS = 8
_FLOOR_DBFS = -76.0  # room tone under presets that add no noise of their own
_ECHO_MS = {"studio": 12.0, "practice_room": 8.0, "gym": 60.0, "garage": 25.0}  # by room type


def drum_templates(n_soundfonts: int, seed: int) -> np.ndarray:
    """(n_soundfonts, n_variants, n) float32 snare hits, peak 1: noise burst + pitched body."""
    rng = np.random.default_rng([seed, 0xD2])
    n = int(_TEMPLATE_SEC * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    attack = np.minimum(1.0, t / 0.0015)
    out = np.empty((n_soundfonts, _N_VARIANTS, n), dtype=np.float32)
    for s in range(n_soundfonts):
        body = np.sin(2 * np.pi * (170.0 + 25.0 * s) * t) * np.exp(-t / 0.03)
        for v in range(_N_VARIANTS):
            noise = np.diff(rng.standard_normal(n), prepend=0.0) * 0.5  # crude high-pass: wires
            wave = attack * (0.7 * noise * np.exp(-t / (0.035 + 0.012 * s)) + 0.6 * body)
            out[s, v] = wave / np.max(np.abs(wave))
    return out


def noise_floor(n_frames: int, seed: int) -> np.ndarray:
    """Unit-variance float32 noise, one second longer than a sample: windows of it are room tone."""
    rng = np.random.default_rng([seed, 0xF1])
    return rng.standard_normal(n_frames + SAMPLE_RATE, dtype=np.float32)


def _hits(
    perf: Performance, n_frames: int, templates: np.ndarray, channels: int, rng
) -> np.ndarray:
    """(n_frames, channels) float32: one template per stroke, the left hand panned left."""
    hands = np.zeros((2, n_frames), dtype=np.float32)  # hits of the left, of the right hand
    starts = np.rint(perf.actual_ms * (SAMPLE_RATE / 1000.0)).astype(np.int64)
    gains = (0.8 * (perf.actual_velocity / 127.0) ** 1.3).astype(np.float32)
    variants = rng.integers(0, templates.shape[0], size=len(starts))
    for start, gain, v, hand in zip(
        starts.tolist(), gains.tolist(), variants.tolist(), perf.grid.hand.tolist()
    ):
        m = min(templates.shape[1], n_frames - start)
        if m > 0:
            hands[hand, start : start + m] += gain * templates[v, :m]
    if channels == 1:
        return (hands[0] + hands[1])[:, None]
    pan = np.array([[0.6, 0.4], [0.4, 0.6]], dtype=np.float32)  # rows: output channel L, R
    return np.ascontiguousarray((pan @ hands).T)


def render(
    perf: Performance,
    n_frames: int,
    templates: np.ndarray,
    floor: np.ndarray,
    preset: dict[str, object],
    channels: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Float PCM in [-1, 1], shape (n_frames, channels): hits, the preset's echo and noise."""
    buf = _hits(perf, n_frames, templates, channels, rng)
    delay = int(_ECHO_MS.get(str(preset["room_type"]), 0.0) * SAMPLE_RATE / 1000)
    if 0 < delay < n_frames:
        buf[delay:] += float(preset["room_wet_dry"]) * buf[:-delay]
    noise_db = preset["noise_level_db"]
    amplitude = np.float32(10 ** ((_FLOOR_DBFS if noise_db is None else float(noise_db)) / 20))
    for c in range(channels):
        off = int(rng.integers(0, len(floor) - n_frames + 1))
        buf[:, c] += amplitude * floor[off : off + n_frames]
    np.clip(buf, -1.0, 1.0, out=buf)
    return buf


def flac_bytes(pcm: np.ndarray, subtype: str) -> bytes:
    """Encode float PCM as FLAC of `subtype`, quantised here (not by libsndfile) to stay exact."""
    bits = SUBTYPES[subtype]
    scale = float(2 ** (bits - 1) - 1)
    if bits == 16:
        ints = np.rint(pcm * scale).astype(np.int16)
    else:  # 24-bit samples in the top bits of int32, as libsndfile expects them
        ints = np.rint(pcm * scale).astype(np.int32) << 8
    out = io.BytesIO()  # in memory: soundfile's close() on a real file fsyncs, which is slow
    # compression level 0: half the encoding time of the default for 3 % more bytes
    sf.write(out, ints, SAMPLE_RATE, subtype=subtype, format="FLAC", compression_level=0.0)
    return out.getvalue()
