"""The bad-input corpus for validation tests, generated (no committed binaries).

``corpus()`` returns ``{name: (bytes, expected_reason_or_None)}``; names are relative paths
(``labeled/<class>/...`` or ``incoming/...``) so the same set serves the S3 route and the CLI.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def image_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    color=(200, 30, 30),
    seed: int = 0,
    **save,
) -> bytes:
    """A small image with some texture (so JPEGs have a real entropy-coded stream)."""
    img = Image.new(mode, size, color)
    px = img.load()
    w, h = size
    for y in range(0, h, 3):
        for x in range(0, w, 5):
            v = (x * 7 + y * 13 + seed * 31) % 256
            if mode in ("L", "P"):
                px[x, y] = v
            elif mode == "CMYK":
                px[x, y] = (v, 255 - v, (v * 3) % 256, 0)
            elif mode == "RGBA":
                px[x, y] = (v, 255 - v, (v * 3) % 256, 128)
            else:
                px[x, y] = (v, 255 - v, (v * 3) % 256)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def pixel_bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header declares width × height (the data is a token IDAT)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def corrupt_crc_png() -> bytes:
    """A valid PNG with one byte of the IDAT checksum flipped."""
    data = bytearray(image_bytes("PNG", (48, 48)))
    pos = data.index(b"IDAT")
    length = struct.unpack(">I", data[pos - 4 : pos])[0]
    crc_at = pos + 4 + length
    data[crc_at] ^= 0xFF
    return bytes(data)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (48, 48), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def palette_png_with_transparency() -> bytes:
    img = Image.new("P", (48, 48), 1)
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    for x in range(0, 48, 2):
        img.putpixel((x, x), 2)
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=0)
    return buf.getvalue()


def exif_rotated_jpeg() -> bytes:
    img = Image.open(io.BytesIO(image_bytes("JPEG", (80, 40))))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def photo_jpeg(seed: int, size: int = 640, quality: int = 85) -> bytes:
    """A photo-like JPEG (smooth gradient, blurred shapes): realistic size and entropy."""
    import random

    from PIL import ImageDraw, ImageFilter

    rnd = random.Random(seed)
    img = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x, y = rnd.randrange(size), rnd.randrange(size)
        w, h = rnd.randrange(20, size // 3), rnd.randrange(20, size // 3)
        fill = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.ellipse((x, y, x + w, y + h), fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(2))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def corpus() -> dict[str, tuple[bytes, str | None]]:
    """Every case of the issue: name → (bytes, expected reason or None for valid)."""
    jpeg = image_bytes("JPEG", (64, 48), seed=1)
    png = image_bytes("PNG", (64, 48), seed=2)
    return {
        # valid
        "labeled/cats/good.jpg": (jpeg, None),
        "labeled/cats/cmyk.jpg": (image_bytes("JPEG", (40, 40), mode="CMYK", seed=3), None),
        "labeled/dogs/palette transparent.png": (palette_png_with_transparency(), None),
        "labeled/dogs/rgba.png": (image_bytes("PNG", (40, 40), mode="RGBA", seed=4), None),
        "labeled/dogs/rotated.jpg": (exif_rotated_jpeg(), None),
        "incoming/UPPER.JPG": (image_bytes("JPEG", (50, 50), seed=5), None),
        "incoming/UPPER.PNG": (png, None),
        "incoming/with space ünïcødé 画像.jpg": (image_bytes("JPEG", (50, 40), seed=6), None),
        "incoming/photo.webp": (image_bytes("WEBP", (40, 40), seed=7), None),
        "incoming/png named.jpg": (image_bytes("PNG", (40, 40), seed=8), None),  # mismatch
        # invalid
        "incoming/empty.jpg": (b"", "empty_file"),
        "incoming/truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "incoming/truncated.png": (png[: len(png) // 2], "truncated"),
        "incoming/text.jpg": (b"just some text, not pixels\n" * 4, "not_an_image"),
        "incoming/page.png": (b"<!DOCTYPE html><html><body>hi</body></html>", "not_an_image"),
        "incoming/doc.jpg": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not_an_image"),
        "incoming/vector.svg": (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" '
            b'height="64"><rect width="64" height="64"/></svg>',
            "unsupported_format",
        ),
        "incoming/bad crc.png": (corrupt_crc_png(), "corrupt"),
        "incoming/one pixel.png": (image_bytes("PNG", (1, 1)), "too_small"),
        "incoming/bomb.png": (pixel_bomb_png(), "pixel_bomb"),
        "incoming/animated.gif": (animated_gif(), "animated"),
        "labeled/cats/zz duplicate of good.jpg": (jpeg, "duplicate"),
    }


def put_raw_http(emulator_url: str, bucket: str, key: str, headers: dict[str, bytes], body: bytes):
    """A PUT the way a non-boto client sends it (botocore refuses non-ASCII metadata), signed
    with the stack's bootstrap key over the header bytes as the server reads them (latin-1)."""
    import http.client
    import os
    import ssl
    import urllib.parse

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from image_mlops.config import get_settings
    from image_mlops_dev.stack.identities import BOOTSTRAP_SECRET, LOCAL_ACCESS_KEY_ID, ca_bundle

    url = urllib.parse.urlsplit(emulator_url)
    path = f"/{bucket}/{urllib.parse.quote(key)}"
    request = AWSRequest(
        method="PUT",
        url=f"{emulator_url}{path}",
        data=body,
        headers={name: value.decode("latin-1") for name, value in headers.items()},
    )
    # the stack's bootstrap key: a test's own upload, over TLS (the buckets refuse plain HTTP)
    credentials = Credentials(LOCAL_ACCESS_KEY_ID, os.environ[BOOTSTRAP_SECRET])
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    signed = {
        name: value.encode("latin-1") if isinstance(value, str) else value
        for name, value in request.headers.items()
    }
    context = ssl.create_default_context(cafile=str(ca_bundle(get_settings())))
    conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=10, context=context)
    conn.putrequest("PUT", path)
    for name, value in {**signed, "Content-Length": str(len(body)).encode()}.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    status = conn.getresponse().status
    conn.close()
    return status
