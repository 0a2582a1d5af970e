"""Markers, bot-owned sections and the state block survive what people do to an issue body."""

from __future__ import annotations

import pytest

from issuebot import markers

BODY = "<!-- issuebot:goal:1 -->\n**Goal:** Ship a service\n\n## Actions\n- [ ] Tutorial\n"


def test_marker_round_trip_and_refused_keys():
    assert markers.marker("goal:1") == "<!-- issuebot:goal:1 -->"
    body = markers.with_marker("text", "nudge:2027-03-02:mentee")
    assert body == "<!-- issuebot:nudge:2027-03-02:mentee -->\ntext"
    assert markers.with_marker(body, "nudge:2027-03-02:mentee") == body  # once
    assert markers.find_marker(body) == "nudge:2027-03-02:mentee"
    for bad in ("", "state", "begin:x", "end:x", "has space", "-->", "a-->b"):
        with pytest.raises(ValueError):
            markers.marker(bad)


def test_marker_survives_edits_around_it():
    edited = "I rewrote the top.\r\n\r\n" + BODY.replace("\n", "\r\n") + "\r\n- [x] Deployed it myself\r\n"
    assert markers.find_marker(edited) == "goal:1"
    assert markers.has_marker(edited, "goal:1") and not markers.has_marker(edited, "goal:2")
    moved = "## Actions\n- [ ] Tutorial\n\n<!--   issuebot:goal:1   -->\n"
    assert markers.find_marker(moved) == "goal:1"
    assert markers.find_marker("no marker here, <!-- a comment --> only") is None
    assert markers.find_marker(None) is None


def test_identity_marker_is_found_after_sections_and_state():
    body = markers.section("log", "- 2027-01-20") + "\n" + BODY
    body = markers.write_state(body, {"v": 1})
    assert markers.find_marker(body) == "goal:1"


def test_state_round_trip_and_people_editing_the_rest():
    state = {"v": 1, "issues": ["kickoff", "goal:1"], "sessions": [{"n": 1, "date": "2027-01-20"}]}
    body = markers.write_state(BODY, state)
    assert markers.read_state(body) == state
    edited = "People wrote a long intro.\n\n" + body.replace("- [ ] Tutorial", "- [x] Tutorial\n- [ ] More") + "\nA footer.\n"
    assert markers.read_state(edited) == state
    assert markers.read_state(edited.replace("\n", "\r\n")) == state  # CRLF from a browser
    rewritten = markers.write_state(edited, {**state, "v": 2})
    assert markers.read_state(rewritten)["v"] == 2
    assert rewritten.count("issuebot:state") == 1
    assert "People wrote a long intro." in rewritten and "A footer." in rewritten and "- [ ] More" in rewritten


def test_state_block_moved_to_the_top_by_a_person():
    body = markers.write_state(BODY, {"v": 1})
    block = body[body.index("<!-- issuebot:state"):].strip()
    reordered = block + "\n\n" + BODY
    assert markers.read_state(reordered) == {"v": 1}
    again = markers.write_state(reordered, {"v": 3})
    assert markers.read_state(again) == {"v": 3} and again.count("issuebot:state") == 1
    assert "**Goal:** Ship a service" in again


def test_write_state_twice_is_stable():
    once = markers.write_state(BODY, {"a": 1})
    assert markers.write_state(once, {"a": 1}) == once


@pytest.mark.parametrize(
    "damaged",
    [
        '<!-- issuebot:state {"v": 1, "issues": [ -->',
        "<!-- issuebot:state {v: 1} -->",
        '<!-- issuebot:state {"v": 1 -->',
        "<!-- issuebot:state [1, 2] -->",
        "<!-- issuebot:state -->",
    ],
)
def test_damaged_state_block_reads_as_empty_and_is_replaced_once(damaged):
    body = BODY + "\n" + damaged + "\n"
    assert markers.read_state(body) == {}
    repaired = markers.write_state(body, {"v": 1})
    assert markers.read_state(repaired) == {"v": 1}
    assert markers.find_marker(repaired) == "goal:1"


def test_json_with_comment_closers_and_angle_brackets_cannot_end_the_block():
    state = {"note": "a --> b <!-- c", "html": "<b>bold</b>", "nested": {"x": "-->"}}
    body = markers.write_state(BODY, state)
    block = body[body.index("<!-- issuebot:state"):]
    assert block.count("-->") == 1  # only the real end of the comment
    assert markers.read_state(body) == state
    assert markers.visible_text(body) == markers.visible_text(BODY)


def test_unicode_state_survives():
    state = {"by": "Zoë 🚀", "reason": "für später"}
    assert markers.read_state(markers.write_state(BODY, state)) == state


def test_sections_replace_in_place_and_keep_peoples_text():
    body = BODY + "\n" + markers.section("log", "- session 1") + "\n\nPeople's notes after the log.\n"
    body = markers.write_state(body, {"v": 1})
    updated = markers.replace_section(body, "log", "- session 1\n- session 2")
    assert markers.get_section(updated, "log") == "- session 1\n- session 2"
    assert updated.index("People's notes after the log.") > updated.index("issuebot:end:log")
    assert markers.read_state(updated) == {"v": 1}
    assert markers.replace_section(updated, "log", "- session 1\n- session 2") == updated


def test_replace_section_when_a_person_deleted_it():
    body = markers.write_state(BODY, {"v": 1})
    restored = markers.replace_section(body, "log", "- session 1")
    assert markers.get_section(restored, "log") == "- session 1"
    assert restored.index("issuebot:begin:log") < restored.index("issuebot:state")  # state stays last
    assert markers.read_state(restored) == {"v": 1}
    plain = markers.replace_section("Just text", "log", "x")
    assert plain.startswith("Just text\n\n") and markers.get_section(plain, "log") == "x"


def test_replace_section_when_a_person_deleted_only_its_end():
    body = BODY + "\n<!-- issuebot:begin:log -->\n- session 1\n"
    restored = markers.replace_section(body, "log", "- session 2")
    assert markers.get_section(restored, "log") == "- session 2"
    assert markers.replace_section(restored, "log", "- session 2") == restored


def test_sections_are_independent_and_not_identity_markers():
    body = markers.section("a", "one") + "\n" + markers.section("b", "two")
    body = markers.replace_section(body, "a", "ONE")
    assert (markers.get_section(body, "a"), markers.get_section(body, "b")) == ("ONE", "two")
    assert markers.find_marker(body) is None
    assert markers.get_section(body, "missing") is None


def test_visible_text_hides_markers_and_state():
    body = markers.write_state(BODY, {"v": 1})
    assert markers.visible_text(body) == "**Goal:** Ship a service\n\n## Actions\n- [ ] Tutorial"
