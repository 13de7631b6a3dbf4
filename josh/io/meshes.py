"""Full body meshes for export, computed in batches, and the colours that tell people apart.

`body.mesh` runs the body model's full forward (Anny: 13,718 vertices, ~10-20 ms per body on a
laptop core), so exporters ask only for the frames they show and get them batch by batch, never
all at once (a long video's meshes would not fit in memory).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from josh.types import PersonResult

# Distinct, colour-blind-friendly person colours (Okabe-Ito), RGB.
PERSON_COLORS = np.array([
    [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66],
    [0, 114, 178], [213, 94, 0], [204, 121, 167], [120, 120, 120],
], np.uint8)  # fmt: skip


def person_color(index: int) -> np.ndarray:
    """RGB uint8 colour of the index-th person (cycles after 8)."""
    return PERSON_COLORS[index % len(PERSON_COLORS)]


def evenly_spaced(n: int, count: int | None) -> np.ndarray:
    """`count` indices spread over range(n), first and last included (all when count is None)."""
    if count is None or count >= n:
        return np.arange(n)
    if count <= 0:
        return np.zeros(0, int)
    return np.unique(np.round(np.linspace(0, n - 1, count)).astype(int))


def person_meshes(body, person: PersonResult, rows, batch_size: int = 32) -> Iterator[tuple[int, np.ndarray]]:
    """(row, vertices (V, 3) float32) of `person` at `rows` (indices into its frames), in order."""
    rows = np.asarray(rows, int)
    shape = torch.as_tensor(np.asarray(person.shape), dtype=torch.float64)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        as_tensor = lambda a: torch.as_tensor(np.asarray(a)[chunk], dtype=torch.float64)  # noqa: E731
        vertices = body.mesh(
            shape.expand(len(chunk), -1),
            as_tensor(person.root_rotmat),
            as_tensor(person.root_transl),
            as_tensor(person.body_pose),
        )
        for row, v in zip(chunk, vertices.numpy().astype(np.float32)):
            yield int(row), v
