"""The golden corpus: every event the worker produces for 3,000 intents under twelve settings is unchanged.

A failure here means outputs changed. When that is the purpose of the change, regenerate the
corpus in a commit of its own (`make golden`) so its diff shows what moved; otherwise it is a bug.
"""

from __future__ import annotations

from tests.golden.corpus import CONFIGS, CORPUS_FILE, INTENTS_PER_CONFIG, corpus_lines


def test_every_event_of_the_golden_corpus_is_byte_identical():
    expected = CORPUS_FILE.read_text().splitlines()
    actual = list(corpus_lines())
    assert len(actual) == len(expected) == len(CONFIGS) * INTENTS_PER_CONFIG
    changed = [(a.split(" ")[0], a.split(" ")[1]) for a, b in zip(actual, expected) if a != b]
    assert not changed, f"{len(changed)} intents changed their events, first {changed[:5]} (see tests/golden/corpus.py)"


def test_the_corpus_covers_executions_and_rejections_in_every_configuration():
    by_config: dict[str, set[str]] = {}
    for line in CORPUS_FILE.read_text().splitlines():
        name, _, _, *events = line.split(" ")
        by_config.setdefault(name, set()).add("execution" if events else "rejection")
    assert set(by_config) == {c.name for c in CONFIGS}
    assert all(kinds == {"execution", "rejection"} for kinds in by_config.values())
