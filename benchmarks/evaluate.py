"""Evaluate section: `TargetEvaluator.observe()` cost per sample and memory retained per target.

Two series of 120 samples each:
- a real recording, tests/corpus/transport-per-request (~13 goroutine groups, a few heap sites),
  loaded one sample at a time through `SeriesDir`, exactly as `leakpatrol analyze` replays it;
- a generated one of 4,096 distinct stacks: profilegen's `-gen 100000 -stacks 4096` goroutine
  profile (real Go stacks, parsed once) turned into 120 synthesized `Profile`s, every group's
  count drifting (a bounded random walk of +-20% plus Poisson-like noise) and one mid-sized group
  leaking 5 goroutines per sample. Each sample gets new `StackGroup`s with freshly allocated
  signatures (what the evaluator may keep of a profile), and the corpus series' heap profile of
  the same index, since a target gives both.

Time: median and p95 of the observe() calls alone (parsing excluded), no tracing active.
Memory: tracemalloc, a snapshot before any profile of the series is loaded and one after the 120
samples with every profile released; the difference is what one evaluator retains. The rule set
is built before the first snapshot (the operator shares one per policy). Checkpoint size is
`len(json.dumps(checkpoint.dump(ev)))`, uncompressed.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, ModuleType

from benchmarks.parse import profiles
from leakpatrol.core import LeakState
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles import Profile, ProfileFormat, ProfileKind, StackGroup, load
from leakpatrol.seriesdir import SeriesDir

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "transport-per-request"
SAMPLES = 120
STEP = 60.0  # seconds between samples: one a minute, two hours in all
LEAK_PER_SAMPLE = 5
MEMORY_TARGET = 64 * 1024
TOP_ALLOCATIONS = 8

SampleSource = Callable[[], Iterator[Sample]]


def corpus_series() -> tuple[SampleSource, PodIdentity | None, str]:
    series = SeriesDir.open(CORPUS)

    def samples() -> Iterator[Sample]:
        yield from series.samples()

    return samples, series.pod, f"corpus {CORPUS.name}"


def generated_series(stacks: int = 4096) -> tuple[SampleSource, PodIdentity | None, str]:
    """120 goroutine profiles over profilegen's real stacks, counts drifting, one group leaking;
    each paired with the corpus series' heap profile of the same index (a target gives both)."""
    template = load((profiles(100_000, stacks) / "goroutine.pb.gz").read_bytes())
    heaps = [p for _, p in sorted((t, k["heap"]) for t, k in SeriesDir.open(CORPUS).files.items())]
    rng = random.Random(20270115)
    base = [max(1, g.count) for g in template.groups]
    walk = [0.0] * len(base)
    leaking = len(base) // 2  # a mid-sized group: neither the largest nor noise-level
    counts: list[list[int]] = []
    for i in range(SAMPLES):
        row = []
        for j, b in enumerate(base):
            walk[j] = max(-0.2, min(0.2, walk[j] + rng.gauss(0.0, 0.02)))
            mean = b * (1.0 + walk[j])
            row.append(max(1, round(rng.gauss(mean, mean**0.5))))
        row[leaking] = base[leaking] + LEAK_PER_SAMPLE * i
        counts.append(row)

    def samples() -> Iterator[Sample]:
        for i, row in enumerate(counts):
            # New StackGroups with freshly allocated signatures each sample, as a parse would make:
            # whatever the evaluator keeps of them is then its own, not the template's.
            groups = [
                StackGroup(g.signature[:-1] + g.signature[-1:], g.wait_kind, g.frames, g.user_frames, n)
                for g, n in zip(template.groups, row, strict=True)
            ]
            goroutine = Profile(ProfileKind.GOROUTINE, ProfileFormat.PROTO, groups, sum(row))
            yield Sample(1_800_000_000 + STEP * i, goroutine=goroutine, heap=load(heaps[i].read_bytes()))

    started = PodIdentity(uid="generated", started_at=1_800_000_000 - 3600.0)
    return samples, started, f"generated {len(base)} stacks"


def time_observe(
    source: SampleSource, pod: PodIdentity | None, rules: RuleSet
) -> tuple[list[tuple[float, float]], TargetEvaluator, int, bool]:
    """Per-call observe() (wall, CPU) seconds; the evaluator; goroutine groups in the last sample;
    whether a leak was confirmed."""
    ev = TargetEvaluator(DetectionConfig(), rules)
    took: list[tuple[float, float]] = []
    groups = 0
    flagged = False
    for sample in source():
        groups = len(sample.goroutine.groups) if sample.goroutine is not None else 0
        start, cpu = time.perf_counter(), time.process_time()
        evaluation = ev.observe(sample, pod)
        took.append((time.perf_counter() - start, time.process_time() - cpu))
        flagged = flagged or any(s.state is LeakState.CONFIRMED for s in evaluation.signals)
        del sample, evaluation
    return took, ev, groups, flagged


def retained(
    source: SampleSource, pod: PodIdentity | None, rules: RuleSet
) -> tuple[int, list[tracemalloc.StatisticDiff]]:
    """Bytes one evaluator keeps after the whole series, profiles released; and the top lines."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        ev = TargetEvaluator(DetectionConfig(), rules)
        for sample in source():
            ev.observe(sample, pod)
            del sample
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(filters).compare_to(before.filter_traces(filters), "lineno")
    total = sum(d.size_diff for d in diff)
    del ev
    return total, sorted(diff, key=lambda d: -d.size_diff)[:TOP_ALLOCATIONS]


_SHARED = (type, ModuleType, FunctionType, BuiltinFunctionType, Enum)


def deep_size(roots: Iterable[object], exclude: Iterable[object] = ()) -> int:
    """`sys.getsizeof` summed over everything reachable from `roots`, each object once. Types,
    modules, functions, enum members and the `exclude`d objects (config, rule set: shared by a
    policy's targets) are neither counted nor walked into."""
    seen = {id(o) for o in exclude}
    stack = list(roots)
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def run() -> None:
    rules = RuleSet.default()
    print(f"\n## evaluate: TargetEvaluator.observe() over {SAMPLES} samples, one target\n")
    print(
        f"{'series':<28}{'groups':>7}{'tracked':>8}{'wall med':>9}{'p95':>7}{'cpu med':>9}{'p95':>7}"
        f"{'retained':>11}{'vs 64KB':>8}{'deep size':>11}{'checkpoint':>12}{'leak':>5}"
    )
    tops: list[tuple[str, list[tracemalloc.StatisticDiff]]] = []
    for source, pod, name in (corpus_series(), generated_series()):
        took, ev, groups, flagged = time_observe(source, pod, rules)
        tracked = len(ev.goroutines.tracker.groups) + len(ev.heap.tracker.groups)
        size = len(json.dumps(checkpoint.dump(ev)))
        deep = deep_size([ev], exclude=[ev.config, ev.rules])
        del ev
        memory, top = retained(source, pod, rules)
        tops.append((name, top))
        cells = ""
        for i in (0, 1):
            ms = sorted(t[i] * 1e3 for t in took)
            cells += f"{statistics.median(ms):>9.2f}{ms[int(0.95 * (len(ms) - 1))]:>7.1f}"
        print(
            f"{name:<28}{groups:>7}{tracked:>8}{cells}{memory / 1024:>9.1f}KB{memory / MEMORY_TARGET:>7.2f}x"
            f"{deep / 1024:>9.1f}KB{size / 1024:>10.1f}KB{'yes' if flagged else 'no':>5}"
        )
    print(
        "\ngroups = goroutine groups in the last sample; tracked = series kept (goroutines + heap);"
        "\nwall/cpu = ms per observe() call, median and p95 (parsing excluded);"
        "\nretained = tracemalloc difference after 120 samples with the profiles released (target 64 KB);"
        "\ndeep size = sys.getsizeof over the evaluator's object graph (config and rules excluded);"
        "\ncheckpoint = len(json.dumps(checkpoint.dump(ev))); leak = a Confirmed signal was raised;"
        "\nthe corpus series starts in warm-up (its first ~10 samples are not evaluated)"
    )
    for name, top in tops:
        print(f"\nlargest retained allocations, {name}:")
        for d in top:
            frame = d.traceback[0]
            where = f"{_short(frame.filename)}:{frame.lineno}"
            print(f"  {d.size_diff / 1024:>8.1f} KB {d.count_diff:>7} blocks  {where}")


def _short(filename: str) -> str:
    path = Path(filename)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
