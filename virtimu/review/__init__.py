"""Label review: contact sheets of recordings or windows on a static HTML page whose
decisions are saved as the overrides JSON that ``virtimu label --overrides`` applies."""
from virtimu.review.build import ReviewReport, build_review
from virtimu.review.cards import Card, recording_cards, window_cards
from virtimu.review.page import review_html

__all__ = ["Card", "ReviewReport", "build_review", "recording_cards", "review_html", "window_cards"]
