"""The Length-Adaptive Transformer's evolutionary search over length configurations (Kim and Cho, ACL 2021).

A *gene* is a length configuration: units kept per layer, non-increasing. The search keeps a population,
each gene scored once (``score``, on the validation split) and priced once (``cost``: closed-form encoder
MACs over vanilla's). Every iteration the population shrinks to its front (the non-dominated genes: no other
is as cheap and as good with one of the two strictly better), then grows by ``mutations`` mutated and
``crossovers`` crossed genes. As in the official code:

- the first population is the smallest gene (every layer at ``ceil((1 - bound) l)``), the full one, and
  ``population`` genes with one drop ratio for every layer, their costs evenly spaced between those two;
- a mutation redraws each layer of a random member with ``mutation_prob``, uniformly between the next
  layer's length and the (new) previous layer's, so the gene stays non-increasing; a crossover is the
  rounded-up mean of two members;
- a gene cheaper than the smallest one (outside what LengthDrop trained) or dearer than the budget
  (``max_macs_ratio``) is priced but never scored, and never enters the population.

Decision: the front is the exact non-dominated set (the official code keeps the dearest gene whatever its
score and compares a cost with a gene when two costs tie).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from fcabench.errors import FcabenchError

Gene = tuple[int, ...]
MAX_TRIES = 50  # draws per wanted new gene before the search accepts that none is left to find


@dataclass(frozen=True)
class Candidate:
    lengths: Gene
    cost: float  # encoder MACs / vanilla's, closed form
    score: float  # the validation metric (higher is better)


def pareto_front(candidates) -> list[Candidate]:
    """The non-dominated candidates, cheapest first; of equal ones, the first seen."""
    front: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.cost, -c.score)):
        if not front or candidate.score > front[-1].score:
            front.append(candidate)
    return front


def uniform_gene(n: int, layers: int, ratio: float) -> Gene:
    """Every layer drops ``ratio`` of the units it receives (at least [CLS] and one more stay)."""
    lengths, length = [], n
    for _ in range(layers):
        length = max(min(2, n), math.ceil(length * (1 - ratio)))
        lengths.append(length)
    return tuple(lengths)


def mutate(gene: Gene, n: int, probability: float, rng: random.Random) -> Gene:
    out: list[int] = []
    for layer, length in enumerate(gene):
        if rng.random() < probability:
            upper = n if layer == 0 else out[-1]
            lower = min(2, n) if layer == len(gene) - 1 else gene[layer + 1]
            length = rng.randint(min(lower, upper), upper)
        out.append(length)
    return tuple(out)


def crossover(first: Gene, second: Gene) -> Gene:
    return tuple((a + b + 1) // 2 for a, b in zip(first, second))


class _Search:
    def __init__(self, score, cost, lower: float, upper: float):
        self.score, self.cost, self.lower, self.upper = score, cost, lower, upper
        self.seen: dict[Gene, Candidate | None] = {}  # None: priced out of range, never scored
        self.population: list[Candidate] = []

    def add(self, gene: Gene) -> bool:
        """Score ``gene`` if new and within range; True when it joins the population."""
        if gene not in self.seen:
            cost = self.cost(gene)
            in_range = self.lower - 1e-12 <= cost <= self.upper + 1e-12
            self.seen[gene] = Candidate(gene, cost, float(self.score(gene))) if in_range else None
        candidate = self.seen[gene]
        if candidate is None or candidate in self.population:
            return False
        self.population.append(candidate)
        return True

    def grow(self, count: int, make: Callable[[], Gene]) -> None:
        added = tries = 0
        while added < count and tries < MAX_TRIES * max(count, 1):
            added += self.add(make())
            tries += 1


def evolve(score, cost, n: int, layers: int, settings, rng: random.Random) -> list[Candidate]:
    """The front of the search for inputs of ``n`` units on ``layers`` layers; ``settings``: a config with
    ``length_drop_bound``, ``population``, ``mutations``, ``crossovers``, ``mutation_prob``, ``iterations``
    and ``max_macs_ratio`` (:class:`fcabench.methods.lat.LatConfig`)."""
    smallest = uniform_gene(n, layers, settings.length_drop_bound)
    lower = cost(smallest)
    if lower > settings.max_macs_ratio:
        raise FcabenchError(
            f"lat search: max_macs_ratio {settings.max_macs_ratio} is below the smallest trained configuration "
            f"({lower:.3f} x vanilla's MACs at length_drop_bound {settings.length_drop_bound})"
        )
    search = _Search(score, cost, lower, settings.max_macs_ratio)
    search.add(smallest)
    search.add((n,) * layers)
    for target in _spaced(lower, settings.max_macs_ratio, settings.population):
        search.add(uniform_gene(n, layers, _ratio_for(target, n, layers, cost)))
    for iteration in range(settings.iterations + 1):
        search.population = pareto_front(search.population)
        if iteration == settings.iterations:
            break
        search.grow(
            settings.mutations,
            lambda: mutate(rng.choice(search.population).lengths, n, settings.mutation_prob, rng),
        )
        if len(search.population) > 1:
            search.grow(settings.crossovers, lambda: crossover(*(c.lengths for c in rng.sample(search.population, 2))))
    return search.population


def _spaced(low: float, high: float, count: int) -> list[float]:
    """``count`` costs strictly between ``low`` and ``high``, evenly spaced."""
    return [low + (high - low) * (i + 1) / (count + 1) for i in range(count)]


def _ratio_for(target: float, n: int, layers: int, cost, steps: int = 40) -> float:
    """The one drop ratio per layer whose gene costs about ``target`` (bisection; cost falls as it rises)."""
    low, high = 0.0, 1.0
    for _ in range(steps):
        middle = (low + high) / 2
        if cost(uniform_gene(n, layers, middle)) > target:
            low = middle
        else:
            high = middle
    return high
