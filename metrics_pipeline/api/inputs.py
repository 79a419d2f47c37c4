"""What a request may carry: the hub's `limit` rule, names the stores can hold, bounded counts and
URLs whose percent-encoded bytes are UTF-8. A value that fails is a 400 naming its parameter, never a 500."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

from packaging.utils import canonicalize_name
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from metrics_pipeline.api.backends.base import BadRequest

DEFAULT_LIMIT = 12
MAX_LIMIT = 1200  # 100 years of months: larger limits are clamped to it
MAX_NAME_LENGTH = 200  # keeps every normalized name under DynamoDB's 2,048-byte key
SHOWN = 40  # characters of a bad value echoed back in an error
DIGITS = re.compile(r"[0-9]+")
# The path segment after these holds a name; it is named in errors.
PATH_PARAMS = {b"metrics": "plugin", b"export": "dataset"}
STRICT_QUERY_PARAMS = (b"plugin",)  # names compared with stored keys: a replacement character would hide the error


def shown(text: str) -> str:
    """A bad value as echoed in an error message: repr, cut short."""
    if len(text) <= SHOWN:
        return repr(text)
    return f"{text[:SHOWN]!r}... ({len(text):,} characters)"


def shown_digits(text: str) -> str:
    """A too-large number as echoed in an error message, cut short."""
    digits = text.lstrip("0")
    return digits if len(digits) <= SHOWN else f"{digits[:SHOWN]}... ({len(digits):,} digits)"


def parse_limit(text: str | None) -> int:
    """The hub's rule: absent -> 12; ASCII digits -> that many months, clamped to MAX_LIMIT; else 0."""
    if text is None:
        return DEFAULT_LIMIT
    if not DIGITS.fullmatch(text):
        return 0
    digits = text.lstrip("0")
    if len(digits) > len(str(MAX_LIMIT)):  # never parse a huge number only to clamp it
        return MAX_LIMIT
    return min(int(digits or "0"), MAX_LIMIT)


def positive(text: str, name: str, cap: int) -> int:
    """ASCII digits >= 1; anything above `cap` reads as `cap` + 1, so callers can refuse it without a huge int."""
    if not DIGITS.fullmatch(text):
        raise BadRequest(f"{name}={shown(text)} is not a whole number (ASCII digits only)")
    digits = text.lstrip("0")
    if not digits:
        raise BadRequest(f"{name}=0 must be at least 1")
    if len(digits) > len(str(cap)):
        return cap + 1
    return min(int(digits), cap + 1)


def plugin_name(text: str, param: str = "plugin") -> str:
    """The PEP 503-normalized name, or 400 for what no registry name holds (control characters, overlong)."""
    if len(text) > MAX_NAME_LENGTH:
        raise BadRequest(f"{param} is longer than {MAX_NAME_LENGTH} characters")
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        raise BadRequest(f"{param}={shown(text)} contains the control character U+{ord(bad):04X}, "
                         "which no plugin name holds")
    return canonicalize_name(text)


def _utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def undecodable(raw_path: bytes, query_string: bytes) -> str | None:
    """Why a name in this URL is not UTF-8 once percent-decoded, or None when every name is."""
    segments = raw_path.split(b"/")
    for index, segment in enumerate(segments):
        if not _utf8(segment):
            param = PATH_PARAMS.get(segments[index - 1]) if index == 2 else None
            where = param or f"path segment {index}"
            return f"{where} is not UTF-8 once percent-decoded ({segment[:SHOWN].decode('ascii', 'replace')!r})"
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        name = unquote_to_bytes(name.replace(b"+", b" "))
        if name in STRICT_QUERY_PARAMS and not _utf8(value.replace(b"+", b" ")):
            return f"{name.decode()} is not UTF-8 once percent-decoded ({value[:SHOWN].decode('ascii', 'replace')!r})"
    return None


class RequireUtf8Names:
    """ASGI middleware: the server decodes bad bytes to U+FFFD silently; names must fail loudly instead."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = undecodable(scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b""))
            if problem is not None:
                await JSONResponse({"detail": problem}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
