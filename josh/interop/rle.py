"""COCO run-length encoding of binary masks (what SAM3's `mask/*.json` stores), with numpy only.

A COCO RLE is {"size": [h, w], "counts": ...}: the mask read in column-major (Fortran) order as
alternating runs of 0s and 1s, starting with 0s. `counts` is either a list of run lengths
("uncompressed") or an ASCII string ("compressed"): each run length is written as 5-bit groups,
least significant first, as characters chr(48 + group), where bit 0x20 says "another group
follows" and bit 0x10 of the last group is the sign; from the third run on, the value stored is
the difference to the run two places earlier (runs of the same colour tend to be alike).
"""

from __future__ import annotations

import numpy as np

from josh.errors import InputError


def counts_from_string(s: str | bytes) -> list[int]:
    """Run lengths of a compressed COCO `counts` string."""
    data = s.encode("ascii") if isinstance(s, str) else bytes(s)
    counts: list[int] = []
    p, n = 0, len(data)
    while p < n:
        value, shift = 0, 0
        while True:
            if p >= n:
                raise InputError("truncated COCO RLE string")
            c = data[p] - 48
            p += 1
            value |= (c & 0x1F) << shift
            shift += 5
            if not c & 0x20:
                if c & 0x10:
                    value -= 1 << shift  # sign-extend
                break
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def counts_to_string(counts) -> str:
    """The compressed COCO string of run lengths (inverse of `counts_from_string`)."""
    out = []
    counts = [int(c) for c in counts]
    for i, value in enumerate(counts):
        if i > 2:
            value -= counts[i - 2]
        while True:
            c = value & 0x1F
            value >>= 5
            more = value != -1 if c & 0x10 else value != 0
            out.append(chr(48 + (c | 0x20 if more else c)))
            if not more:
                break
    return "".join(out)


def decode_rle(rle: dict) -> np.ndarray:
    """Boolean mask (h, w) of a COCO RLE dict (compressed or uncompressed counts)."""
    try:
        h, w = (int(x) for x in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"not a COCO RLE mask (needs 'size' [h, w] and 'counts'): {exc}") from exc
    runs = np.asarray(counts_from_string(counts) if isinstance(counts, (str, bytes)) else counts, dtype=np.int64)
    if (runs < 0).any() or runs.sum() != h * w:
        raise InputError(f"COCO RLE runs cover {int(runs.sum())} pixels, the mask has {h}x{w}")
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    return flat.reshape(w, h).T


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a boolean (h, w) mask, `counts` as an ASCII string."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs  # runs start with zeros
    return {"size": [h, w], "counts": counts_to_string(runs)}
