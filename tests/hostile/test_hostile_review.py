"""Hostile names on the review page (property-based): whatever a recording, source, label, note or
image name holds (markup, quotes, script end tags, unicode), the page keeps the markup skeleton of
a page with harmless names, and the embedded JSON gives the names back unchanged."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

pytest.importorskip("hypothesis")  # a dev dependency
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.helpers import bounded
from virtimu.labels.maps import get_label_space
from virtimu.review.cards import Card
from virtimu.review.page import review_html

SPACE = get_label_space("synthetic12")


class _Skeleton(HTMLParser):
    """Start/end tags with their attribute names (values ignored), and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(("start", tag, tuple(sorted(a for a, _ in attrs if a != "selected"))))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self.tags.append(("end", tag))
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _skeleton(html: str) -> _Skeleton:
    parser = _Skeleton()
    parser.feed(html)
    parser.close()
    return parser


NASTY = ["<script>alert(1)</script>", "</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>",
         "\"><svg onload=alert(1)>", "' onmouseover='alert(1)", "<!--", "]]>", "&lt;", "\u2028\u2029",
         "javascript:alert(1)", "</textarea>", "<style>", "{{7*7}}", "\x00", "walking"]
names = st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=30),
                  st.lists(st.sampled_from(NASTY), min_size=1, max_size=3).map("".join))


def _card(source: str, recording: str, label: str, note: str, window_label: str | None, image: str | None) -> Card:
    return Card(index=0, source=source, recording=recording, start=10, end=70, fs=30.0, n_frames=100,
                labels={label: 60}, window_label=window_label, image=image, note=note)


@bounded(80)
@given(source=names, recording=names, label=names, note=names, window_label=st.none() | names,
       image=st.none() | names)
def test_hostile_names_cannot_change_the_page_structure(source, recording, label, note, window_label, image):
    html = review_html([_card(source, recording, label, note, window_label, image)], SPACE)
    harmless = review_html([_card("s", "r", "l", "n" if note else "", None if window_label is None else "w",
                                  None if image is None else "i.png")], SPACE)
    got, want = _skeleton(html), _skeleton(harmless)
    assert got.tags == want.tags
    assert len(got.scripts) == 2  # the JSON data and the page script, nothing injected
    data = json.loads(re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html,
                                re.DOTALL).group(1))
    assert data["cards"][0]["source"] == source and data["cards"][0]["recording"] == recording
