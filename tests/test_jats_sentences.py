"""Sentence splitting of scientific prose."""

from __future__ import annotations

import pytest

from harvester.jats.sentences import SentenceSplitter, split_sentences


def sentences(text: str, **kwargs) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, **kwargs)]


@pytest.mark.parametrize(
    "sentence",
    [
        "Cells were imaged as shown in Fig. 2A and quantified.",
        "Both strains grew (Figs. 3 and 4) at 37 °C.",
        "As reported by Smith et al. (2010) the effect is small.",
        "Several markers, e.g. CD4 and CD8, were stained.",
        "Controls, i.e. Untreated cells, were kept.",
        "Wild type vs. Mutant cells differed.",
        "The protein is approx. 5 kDa and ca. 30 copies were seen.",
        "The mean was 3.5 mM (p < 0.05) in all runs.",
        "Strains of E. coli and B. subtilis were used.",
        "The data of J. R. Smith were reused.",
        "See Supplementary Fig. S2 for details.",
        "The values differ (see Eq. 3 and Ref. 12) from ours.",
    ],
)
def test_abbreviations_decimals_and_initials_do_not_end_a_sentence(sentence: str) -> None:
    text = f"{sentence} Next sentence here."
    assert sentences(text) == [sentence, "Next sentence here."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cells died (Fig. 2A). The rest lived.", ["Cells died (Fig. 2A).", "The rest lived."]),
        ("Cells died [12]. The rest lived.", ["Cells died [12].", "The rest lived."]),
        ("Cells died.[12] The rest lived.", ["Cells died.[12]", "The rest lived."]),
        ("Cells died.12,13 The rest lived.", ["Cells died.12,13", "The rest lived."]),
        ("It grew in Fig. 4A and B. The rest did not.", ["It grew in Fig. 4A and B.", "The rest did not."]),
        ("It rose in panel C. Then it fell.", ["It rose in panel C.", "Then it fell."]),
        ("Was it? Yes! It was.", ["Was it?", "Yes!", "It was."]),
        ("It ended. 2D maps agree.", ["It ended.", "2D maps agree."]),
        ("It ended. (A) shows more.", ["It ended.", "(A) shows more."]),
        ("We saw “a spike.” Then silence.", ["We saw “a spike.”", "Then silence."]),
    ],
)
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_lowercase_after_a_full_stop_continues_the_sentence() -> None:
    assert sentences("Measured at 5 min. after onset it rose.") == ["Measured at 5 min. after onset it rose."]


def test_a_full_stop_inside_a_protected_xref_span_never_ends_a_sentence() -> None:
    text = "See Fig. S2. Data are shown."
    start = text.index("S2.")
    # without protection "S2." ends the sentence; inside an xref it cannot
    assert sentences(text) == ["See Fig. S2.", "Data are shown."]
    assert sentences(text, protected=[(start, start + 3)]) == [text]


def test_breaks_force_a_boundary() -> None:
    text = "First part without stop second part."
    cut = text.index("second")
    assert sentences(text, breaks=[cut]) == ["First part without stop", "second part."]


def test_sentence_at_matches_the_full_split() -> None:
    text = (
        "Cells were grown as described by Smith et al. (2010). We used E. coli (Fig. 2A). "
        "Values are approx. 3.5 mM vs. Control (p < 0.05). See Figs. 2 and 3. The end."
    )
    splitter = SentenceSplitter(text)
    for s, e in split_sentences(text):
        middle = (s + e) // 2
        assert splitter.sentence_at(middle, middle + 1) == (s, e)


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []
