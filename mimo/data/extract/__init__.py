"""Math/code-aware HTML main-text extraction (trafilatura + a math/code pre-pass), with a
guarded worker process for untrusted pages."""

from mimo.data.extract.config import SKIP_REASONS, ExtractConfig, ExtractOutcome
from mimo.data.extract.core import extract_html
from mimo.data.extract.decode import decode_html
from mimo.data.extract.guard import GuardedExtractor

__all__ = ["SKIP_REASONS", "ExtractConfig", "ExtractOutcome", "GuardedExtractor", "decode_html",
           "extract_html"]
