"""The image checks: one implementation for every route (DAG batches, Lambda, CLI).

Standalone on purpose: only the standard library and Pillow, no ``image_mlops`` or Airflow
import, so the Lambda zip ships this file as ``image_checks.py`` unchanged.

:func:`check_image` takes the bytes of one file and returns a :class:`CheckResult` with a
reason code from the closed set :class:`Reason` (``None`` when the image is valid). The
decode is complete: JPEGs decode in draft mode (scaled DCT), which still entropy-decodes the
whole stream, so a truncated file is caught at a fraction of the cost of a full decode.
"""

from __future__ import annotations

import enum
import hashlib
import io
import posixpath
import warnings
import zlib
from dataclasses import asdict, dataclass, field

from PIL import Image, UnidentifiedImageError


class Reason(enum.StrEnum):
    """Why an object was quarantined — the closed set documented in docs/stages/validation.md."""

    EMPTY_FILE = "empty_file"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    PIXEL_BOMB = "pixel_bomb"
    ANIMATED = "animated"
    DUPLICATE = "duplicate"
    UNSAFE_KEY = "unsafe_key"
    KEY_TOO_LONG = "key_too_long"
    METADATA_UNSUPPORTED = "metadata_unsupported"


#: One line per reason: what it means (the docs' reason table lists these).
REASON_DOCS: dict[Reason, str] = {
    Reason.EMPTY_FILE: "the object has zero bytes",
    Reason.NOT_AN_IMAGE: "the content is not a raster image (text, HTML, PDF ...)",
    Reason.UNSUPPORTED_FORMAT: "an image, but not one of the allowed formats (SVG, GIF, BMP ...)",
    Reason.TRUNCATED: "the image data ends early",
    Reason.CORRUPT: "the image data is damaged (bad checksum, broken stream)",
    Reason.TOO_SMALL: "width or height below the minimum side",
    Reason.TOO_LARGE: "more bytes than the maximum file size",
    Reason.PIXEL_BOMB: "declares more pixels than the pixel limit (decompression bomb)",
    Reason.ANIMATED: "more than one frame (animated GIF, WebP or PNG)",
    Reason.DUPLICATE: "same content (sha256) as an image already validated or seen earlier",
    Reason.UNSAFE_KEY: "the object key cannot be mapped safely into the validated area",
    Reason.KEY_TOO_LONG: "the validated key would exceed S3's 1,024 bytes",
    Reason.METADATA_UNSUPPORTED: (
        "the object's user metadata cannot be carried over (with ours it exceeds S3's 2 KB)"
    ),
}

#: File extensions we know, and the Pillow format they promise.
EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}

#: Magic numbers of raster formats: content that starts like this but does not open is
#: a damaged image, not "not an image".
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class CheckLimits:
    """The configurable limits (settings max_image_bytes, min_image_side, ...)."""

    max_bytes: int = 20 * 1024 * 1024
    min_side: int = 32
    max_pixels: int = 40_000_000
    allowed_formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP")


@dataclass
class CheckResult:
    """The outcome of checking one file's bytes."""

    valid: bool
    reason: str | None
    detail: str
    sha256: str
    size: int
    format: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    extension_mismatch: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _sniff(data: bytes) -> str | None:
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return b"<svg" in head and (head.startswith(b"<?xml") or head.startswith(b"<svg"))


def _describe_text(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "PDF document"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "HTML document"
    try:
        data[:512].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown binary content"


def _png_crc_error(data: bytes) -> str | None:
    """Pillow skips the chunk checksums when decoding; check every chunk's CRC-32 here."""
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            return None  # truncation is reported by the decoder
        if zlib.crc32(data[pos + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            return f"bad CRC in {kind.decode('latin-1')} chunk at byte {pos}"
        if kind == b"IEND":
            return None
        pos = end + 4
    return None


def _fail(reason: Reason, detail: str, base: dict, **known) -> CheckResult:
    return CheckResult(valid=False, reason=reason.value, detail=detail, **base, **known)


def _mismatch(name: str, fmt: str) -> str | None:
    ext = posixpath.splitext(name)[1].lower()
    expected = EXTENSION_FORMATS.get(ext)
    if expected and expected != fmt:
        return f"extension {ext} but content is {fmt}"
    return None


def check_image(data: bytes, name: str = "", limits: CheckLimits | None = None) -> CheckResult:
    """Check one file's bytes; ``name`` is only used to compare the extension with content."""
    limits = limits or CheckLimits()
    base = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if not data:
        return _fail(Reason.EMPTY_FILE, "0 bytes", base)
    if len(data) > limits.max_bytes:
        return _fail(Reason.TOO_LARGE, f"{len(data)} bytes > limit {limits.max_bytes} bytes", base)
    # Pillow's own guard, at our limit: it refuses > 2x at open, warns above 1x.
    previous_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return _fail(Reason.PIXEL_BOMB, str(exc), base)
    except UnidentifiedImageError:
        sniffed = _sniff(data)
        if sniffed:
            return _fail(Reason.CORRUPT, f"starts like {sniffed} but cannot be parsed", base)
        if _looks_like_svg(data):
            return _fail(Reason.UNSUPPORTED_FORMAT, "SVG (vector) image", base)
        return _fail(Reason.NOT_AN_IMAGE, f"{_describe_text(data)}, not an image", base)
    except Exception as exc:  # any other parser failure is damaged data
        return _fail(Reason.CORRUPT, f"{type(exc).__name__}: {exc}", base)
    finally:  # other Pillow users in this process keep their own guard
        Image.MAX_IMAGE_PIXELS = previous_limit

    with img:
        fmt, (width, height), mode = img.format, img.size, img.mode
        known = {"format": fmt, "width": width, "height": height, "mode": mode}
        if width * height > limits.max_pixels:
            return _fail(
                Reason.PIXEL_BOMB,
                f"{width}x{height} = {width * height} pixels > limit {limits.max_pixels}",
                base,
                **known,
            )
        if getattr(img, "is_animated", False) or getattr(img, "n_frames", 1) > 1:
            frames = getattr(img, "n_frames", "several")
            return _fail(Reason.ANIMATED, f"{fmt} with {frames} frames", base, **known)
        if fmt not in limits.allowed_formats:
            allowed = ", ".join(limits.allowed_formats)
            return _fail(Reason.UNSUPPORTED_FORMAT, f"{fmt} is not one of {allowed}", base, **known)
        if min(width, height) < limits.min_side:
            return _fail(
                Reason.TOO_SMALL,
                f"{width}x{height} < minimum side {limits.min_side}",
                base,
                **known,
            )
        try:
            if fmt == "JPEG":
                # Scaled DCT decode: every entropy-coded byte is still read.
                img.draft(img.mode if img.mode in ("L", "RGB") else None, (width // 8, height // 8))
            img.load()
        except OSError as exc:
            reason = Reason.TRUNCATED if "truncated" in str(exc).lower() else Reason.CORRUPT
            return _fail(reason, f"{type(exc).__name__}: {exc}", base, **known)
        except Exception as exc:
            text = str(exc).lower()
            reason = Reason.TRUNCATED if "truncated" in text or "eof" in text else Reason.CORRUPT
            return _fail(reason, f"{type(exc).__name__}: {exc}", base, **known)
        if fmt == "PNG" and (crc_error := _png_crc_error(data)):
            return _fail(Reason.CORRUPT, crc_error, base, **known)
        extra = {}
        orientation = img.getexif().get(0x0112) if fmt in ("JPEG", "WEBP", "PNG") else None
        if orientation and orientation != 1:
            extra["exif-orientation"] = str(orientation)
    return CheckResult(
        valid=True,
        reason=None,
        detail="",
        **base,
        **known,
        extension_mismatch=_mismatch(name, fmt),
        extra=extra,
    )


def mark_duplicates(items: list[tuple[str, CheckResult]]) -> None:
    """Turn every valid copy after the first (in sorted name order) into ``duplicate``."""
    first: dict[str, str] = {}
    for name, result in sorted(items, key=lambda item: item[0]):
        if not result.valid:
            continue
        if result.sha256 in first:
            result.valid = False
            result.reason = Reason.DUPLICATE.value
            result.detail = f"same content as {first[result.sha256]}"
        else:
            first[result.sha256] = name
