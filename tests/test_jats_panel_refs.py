"""Panel letters and figure numbers read from printed figure references."""

from __future__ import annotations

import pytest

from harvester.jats.panel_refs import parse_mention, panels_of


@pytest.mark.parametrize(
    ("printed", "panels"),
    [
        ("Fig. 2B", ["B"]),
        ("Figure 3A–C", ["A", "B", "C"]),
        ("Figure 3A-C", ["A", "B", "C"]),
        ("Figure 3a to c", ["A", "B", "C"]),
        ("(Fig. 1b, d)", ["B", "D"]),
        ("Fig. 4A and B", ["A", "B"]),
        ("Figure 5, A and C", ["A", "C"]),
        ("(Figure 5, A and C)", ["A", "C"]),
        ("Supplementary Fig. S2c", ["C"]),
        ("Fig. 2A,B", ["A", "B"]),
        ("Fig. 2A, B", ["A", "B"]),
        ("Fig. 3(a)", ["A"]),
        ("Fig. 3 (a–c)", ["A", "B", "C"]),
        ("Figure 1(A-C)", ["A", "B", "C"]),
        ("Figs. 2B and 3C", ["B", "C"]),
        ("Fig. 1A–C and E", ["A", "B", "C", "E"]),
        ("Fig. 2, A–C", ["A", "B", "C"]),
        ("Fig. 6A′", ["A"]),
        ("Fig. 6A′–C′", ["A", "B", "C"]),
        ("Fig. 2Ai", ["A"]),
        ("Fig. 2Aii", ["A"]),
        ("(Figure 7—figure supplement 1A)", ["A"]),
        ("Fig. 1A, B, C, and G)", ["A", "B", "C", "G"]),
        ("Figs. 5A–5D", ["A", "B", "C", "D"]),
        ("Fig. 2A-2C", ["A", "B", "C"]),
        ("Figs. 7A–7C and 7D–7F", ["A", "B", "C", "D", "E", "F"]),
        ("Figure 1A,B–F", ["A", "B", "C", "D", "E", "F"]),
        ("(Fig. 3 A and B)", ["A", "B"]),
        ("Figure 2 A", ["A"]),
        ("Fig. 4A and B cells", ["A"]),
        ("Fig. 4A and a control", ["A"]),
    ],
)
def test_panels_are_read_from_the_printed_reference(printed: str, panels: list[str]) -> None:
    assert panels_of(printed) == panels, printed


@pytest.mark.parametrize(
    "printed",
    [
        "Fig. 2 and",
        "Fig. 2 and 3",
        "Fig. 3 A total of",
        "Fig. 2 shows",
        "Fig. 4; Table 1",
        "Figure 2 in",
        "Fig. 5 a",
        "Fig. 5 a representative",
        "Fig. 2, a new model",
        "Fig. 2, a",
        "Fig. 2 (a new model)",
        "Figs. 2–4",
        "Figure 7—figure supplement 1",
        "Figs. 4, S2",
        "(Fig. 2). A total",
        "Fig. 2. Bars show",
        "Fig. 2 is",
        "Fig. 2 I think",
    ],
)
def test_words_after_the_reference_are_not_panels(printed: str) -> None:
    assert panels_of(printed) == [], printed


def test_letters_inside_the_xref_are_trusted_even_before_a_word() -> None:
    # the publisher marked "Figure 4F,G,H" as the reference; "left" is prose after it
    (mention,) = parse_mention("Figure 4F,G,H", " left), these")
    assert mention.panels == ["F", "G", "H"]


def test_panels_printed_after_the_xref_are_read() -> None:
    (mention,) = parse_mention("2", "B and C)")
    assert mention.number == ("", 2)
    assert mention.panels == ["B", "C"]
    (mention,) = parse_mention("Fig. 1b", ", d) and more")
    assert mention.panels == ["B", "D"]


def test_an_xref_holding_only_panel_letters_names_those_panels() -> None:
    (mention,) = parse_mention("B", ")")
    assert mention.number is None
    assert mention.panels == ["B"]
    (mention,) = parse_mention("C–E", " show")
    assert mention.panels == ["C", "D", "E"]


def test_several_figure_numbers_give_one_mention_each() -> None:
    mentions = parse_mention("Figs. 2B and 3C", "")
    assert [(m.number, m.panels) for m in mentions] == [(("", 2), ["B"]), (("", 3), ["C"])]


def test_a_printed_range_of_figures_is_flagged() -> None:
    mentions = parse_mention("Figs. S1–S3", "")
    assert [m.number for m in mentions] == [("S", 1), ("S", 3)]
    assert mentions[0].range_to_next and not mentions[1].range_to_next
    assert parse_mention("Figures 2 to 4", "")[0].range_to_next


def test_figure_supplement_numbers_keep_only_the_supplement_number() -> None:
    (mention,) = parse_mention("Figure 7—figure supplement 1", "A)")
    assert mention.number == ("", 1)
    assert mention.panels == ["A"]


def test_supplementary_figure_numbers_carry_their_s() -> None:
    (mention,) = parse_mention("Supplementary Fig. S2", "c)")
    assert mention.number == ("S", 2)
    assert mention.panels == ["C"]


def test_mention_end_covers_panels_read_after_the_xref() -> None:
    (mention,) = parse_mention("Fig. 1b", ", d) later")
    assert "Fig. 1b, d) later"[: mention.end] == "Fig. 1b, d"
