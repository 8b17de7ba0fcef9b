"""Fixed, reproducible splits for data sets that ship without official ones.

Each class is shuffled on its own with numpy's PCG64 generator (whose stream numpy keeps stable across
versions and machines) and cut at the same fractions, so every split keeps the class balance and the same
ids land in the same split everywhere. The examples must arrive in a fixed order (sorted file names, file
line order): the split is a function of that order, the seed and the fractions alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

SPLIT_SEED = 0  # part of a task's definition: changing it changes every split
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}  # the usual 80/10/10


def stratified_split(
    labels: Sequence, split: str, seed: int = SPLIT_SEED, fractions: dict[str, float] = FRACTIONS
) -> list[int]:
    """Indices (in input order) of the examples in ``split``."""
    by_class: dict = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    names = list(fractions)
    chosen: list[int] = []
    for offset, label in enumerate(sorted(by_class, key=str)):
        members = np.asarray(by_class[label])
        order = members[np.random.Generator(np.random.PCG64([seed, offset])).permutation(len(members))]
        bounds = np.cumsum([0.0, *fractions.values()]) * len(members)
        cuts = np.round(bounds).astype(int)
        position = names.index(split)
        chosen.extend(order[cuts[position] : cuts[position + 1]].tolist())
    return sorted(chosen)


def describe(seed: int = SPLIT_SEED, fractions: dict[str, float] = FRACTIONS) -> str:
    parts = "/".join(f"{round(100 * f)}" for f in fractions.values())
    return (
        f"fixed {parts} {'/'.join(fractions)} split, stratified by class, numpy PCG64 seed {seed} "
        "over the examples in their fixed reading order"
    )
