"""Model-card sections written after the card: one section per title, the others kept."""

from __future__ import annotations

from galfm.training.cards import set_card_section


def test_a_card_section_is_replaced_in_place_and_the_next_one_kept(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("# head\n\n## Real galaxies\n\nold table\n\n## Redshift-scan update\n\nkept\n")
    set_card_section(card, "Real galaxies", "new table\n")
    set_card_section(card, "Real galaxies", "new table\n")  # twice: still one section
    text = card.read_text()
    assert text.count("## Real galaxies") == 1 and "old table" not in text and "new table" in text
    assert text.index("new table") < text.index("## Redshift-scan update") and text.endswith("kept\n")
    set_card_section(card, "Licence", "BSD-3-Clause")  # absent: appended last
    assert card.read_text().endswith("## Licence\n\nBSD-3-Clause\n")
