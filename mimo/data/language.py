"""Language identification of extracted text with py3langid (normalized probabilities)."""

from __future__ import annotations

import threading
from typing import Any

_PREFIX_CHARS = 2000
_identifier: Any = None
_lock = threading.Lock()


def _get_identifier() -> Any:
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    return _identifier


def detect_language(text: str) -> tuple[str, float]:
    """ISO 639-1 code and its probability in [0, 1] for ``text`` (its first 2000 characters)."""
    sample = (text or "")[:_PREFIX_CHARS]
    if not sample.strip():
        return "und", 0.0
    lang, prob = _get_identifier().classify(sample)
    return str(lang), min(1.0, max(0.0, float(prob)))
