"""Every labelled change of the mutation corpus is classified exactly as labelled.

The corpus (``tests/contracts/mutations/``, see its README) is data: each entry edits
copies of the contracts or of producer code and states the verdict and the rules it
must get.  A wrong verdict, a missing rule or an extra one (a false alarm) fails.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.contracts.mutation_corpus import KINDS, CorpusError, Mutation, classify, load_corpus

CORPUS = load_corpus()


@pytest.mark.parametrize("mutation", CORPUS, ids=[m.id for m in CORPUS])
def test_mutation_is_classified_as_labelled(mutation: Mutation, tmp_path: Path) -> None:
    outcome = classify(mutation, tmp_path)
    explained = "\n".join(outcome.details) or "no change found"
    assert (outcome.verdict, outcome.rules) == (mutation.verdict, mutation.rules), explained


def test_the_corpus_is_large_balanced_and_covers_every_kind() -> None:
    verdicts = Counter(m.verdict for m in CORPUS)
    assert len(CORPUS) >= 40
    assert 0.4 <= verdicts["breaking"] / len(CORPUS) <= 0.6, verdicts
    assert verdicts["undecided"] >= 1
    assert {m.covers for m in CORPUS} == set(KINDS)
    assert len({m.id for m in CORPUS}) == len(CORPUS)


def test_the_corpus_edits_schemas_asyncapi_openapi_and_producer_code() -> None:
    targets = {e.target for m in CORPUS for e in m.edits}
    assert any(t.startswith("contracts/events/") for t in targets)
    assert "contracts/asyncapi.yaml" in targets
    assert any(t.startswith("contracts/http/") for t in targets)
    assert any(t.startswith("sandbox/services/") for t in targets)


def test_a_corpus_entry_with_an_unknown_verdict_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "- {id: oops, about: x, covers: pattern, verdict: fine,"
        " edits: [{target: contracts/asyncapi.yaml, ops: []}]}\n"
    )
    with pytest.raises(CorpusError, match=r"bad.yaml: entry 'oops': verdict must be one of"):
        load_corpus(tmp_path)
