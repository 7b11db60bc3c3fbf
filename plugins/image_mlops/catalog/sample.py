"""A realistic, deterministic sample catalogue for the local demo and the tests.

48 products in six categories; most have a main image (an ``s3://`` URL to a drawn product
picture uploaded to ``s3://RAW/catalog-media/``) and a US description; the rest hold every
edge case the extraction must get right (see :data:`EDGE_CASES`). Nothing random: the same
call gives the same rows and the same image bytes.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from image_mlops import s3layout
from image_mlops.catalog.sql import load_sql

log = logging.getLogger(__name__)

# category: (nouns, colours (RGB), German and French words for the originals)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[tuple[int, int, int], ...]]] = {
    "tshirt": (("Cotton T-Shirt", "Crew Neck Tee", "V-Neck Shirt"), ((200, 40, 40), (40, 90, 200))),
    "mug": (("Ceramic Mug", "Travel Mug", "Espresso Cup"), ((240, 240, 235), (30, 120, 90))),
    "shoe": (("Running Shoe", "Leather Boot", "Canvas Sneaker"), ((60, 60, 60), (150, 90, 40))),
    "lamp": (("Desk Lamp", "Floor Lamp", "Reading Light"), ((230, 190, 40), (90, 90, 110))),
    "backpack": (
        ("Hiking Backpack", "City Daypack", "Laptop Bag"),
        ((30, 110, 60), (120, 40, 120)),
    ),
    "watch": (("Field Watch", "Dive Watch", "Smart Watch"), ((20, 20, 30), (180, 160, 90))),
}
ADJECTIVES = ("Classic", "Organic", "Premium", "Everyday", "Vintage", "Compact", "Deluxe", "Eco")
GERMAN = "Hochwertige Qualität, sorgfältig verarbeitet."
FRENCH = "Qualité supérieure, fabrication soignée."


@dataclass
class SampleImage:
    id: int
    url: str
    index: int
    #: "ok" (uploaded picture), "missing" (no object), "not_image" (HTML object), "ftp"
    kind: str = "ok"
    category: str = ""
    colour: int = 0


@dataclass
class SampleDescription:
    id: int
    country_code: str
    original_text: str | None
    translated_text: str | None


@dataclass
class SampleProduct:
    id: int
    title: str
    category: str
    images: list[SampleImage] = field(default_factory=list)
    descriptions: list[SampleDescription] = field(default_factory=list)
    edge_case: str = ""


#: product id → what it tests (the catalogue page of the docs and the tests refer to these).
EDGE_CASES = {
    41: "no images at all",
    42: "images, but none with index 0",
    43: "two images with index 0 (lowest image id wins)",
    44: "no description at all",
    45: "country code 'US' (upper case)",
    46: "country code 'Us' (mixed case) and translated text NULL",
    47: "translated text empty ''",
    48: "translated text blank (spaces, tab, newline)",
    49: "two US descriptions (lowest description id wins)",
    50: "only a non-US (de) description",
    51: "main image URL points to a missing S3 object",
    52: "main image URL has an unsupported scheme (ftp://)",
    53: "main image URL points to an object that is not an image (HTML)",
    54: "no image and no description",
}
REGULAR_PRODUCTS = range(1, 41)


def _title(pid: int, category: str) -> str:
    nouns = CATEGORIES[category][0]
    return f"{ADJECTIVES[pid % len(ADJECTIVES)]} {nouns[pid % len(nouns)]}"


def build_sample(raw_bucket: str) -> list[SampleProduct]:
    """The sample catalogue (deterministic)."""
    categories = list(CATEGORIES)
    products: list[SampleProduct] = []
    next_image = 1000
    next_description = 5000

    def media(pid: int, n: int) -> str:
        return f"s3://{raw_bucket}/{s3layout.catalog_media_key(f'product-{pid}-{n}.jpg')}"

    def add_image(p: SampleProduct, index: int, kind: str = "ok", url: str = "") -> None:
        nonlocal next_image
        n = len(p.images)
        p.images.append(
            SampleImage(next_image, url or media(p.id, n), index, kind, p.category, p.id + n)
        )
        next_image += 1

    def add_description(
        p: SampleProduct, cc: str, original: str | None, translated: str | None
    ) -> None:
        nonlocal next_description
        p.descriptions.append(SampleDescription(next_description, cc, original, translated))
        next_description += 1

    for pid in [*REGULAR_PRODUCTS, *EDGE_CASES]:
        category = categories[pid % len(categories)]
        p = SampleProduct(pid, _title(pid, category), category, edge_case=EDGE_CASES.get(pid, ""))
        english = f"{p.title}: durable {category} for everyday use, product #{pid}."
        products.append(p)
        if pid in REGULAR_PRODUCTS:
            for index in range(1 + pid % 3):
                add_image(p, index)
            if pid % 4 == 0:  # written in English for the US market: no translation
                add_description(p, "us", english, None)
            else:
                add_description(p, "us", f"{GERMAN} (#{pid})", english)
            if pid % 5 == 0:
                add_description(p, "fr", f"{FRENCH} (#{pid})", None)
            continue
        if pid == 41:
            add_description(p, "us", english, None)
        elif pid == 42:
            add_image(p, 1)
            add_image(p, 2)
            add_description(p, "us", english, None)
        elif pid == 43:
            add_image(p, 1)
            add_image(p, 0)  # lower id: the one chosen
            add_image(p, 0)
            add_description(p, "us", english, None)
        elif pid == 44:
            add_image(p, 0)
        elif pid == 45:
            add_image(p, 0)
            add_description(p, "US", f"{GERMAN} (#{pid})", english)
        elif pid == 46:
            add_image(p, 0)
            add_description(p, "Us", english, None)
        elif pid == 47:
            add_image(p, 0)
            add_description(p, "us", english, "")
        elif pid == 48:
            add_image(p, 0)
            add_description(p, "us", english, "  \t\n ")
        elif pid == 49:
            add_image(p, 0)
            add_description(p, "de", f"{GERMAN} (#{pid})", None)
            add_description(p, "US", f"{FRENCH} (#{pid})", english)  # lowest US id: chosen
            add_description(p, "us", "A second, newer US text.", "A second translation.")
        elif pid == 50:
            add_image(p, 0)
            add_description(p, "de", f"{GERMAN} (#{pid})", english)
        elif pid == 51:
            add_image(p, 0, "missing", media(pid, 99).replace(".jpg", "-missing.jpg"))
            add_description(p, "us", english, None)
        elif pid == 52:
            add_image(p, 0, "ftp", f"ftp://images.example.com/products/{pid}.jpg")
            add_description(p, "us", english, None)
        elif pid == 53:
            add_image(p, 0, "not_image")
            add_description(p, "us", english, None)
    # The descriptions of 49 are inserted out of id order on purpose (ids are what counts).
    return products


def expected_rows(products: list[SampleProduct]) -> list[tuple[int, str, str | None, str | None]]:
    """What ``extract_products.sql`` must return, computed in Python from the rules."""
    rows = []
    for p in sorted(products, key=lambda p: p.id):
        main = sorted((i for i in p.images if i.index == 0), key=lambda i: i.id)
        us = sorted(
            (d for d in p.descriptions if d.country_code.lower() == "us"), key=lambda d: d.id
        )
        description = None
        if us:
            d = us[0]
            translated = d.translated_text
            description = translated if translated and translated.strip() else d.original_text
        rows.append((p.id, p.title, main[0].url if main else None, description))
    return rows


# -- pictures -------------------------------------------------------------------------------------
def draw_product(category: str, colour_seed: int, size: int = 256) -> bytes:
    """A simple product-like JPEG: a coloured silhouette of the category on a light background."""
    from PIL import Image, ImageDraw

    colours = CATEGORIES[category][1]
    colour = colours[colour_seed % len(colours)]
    shade = 235 - (colour_seed * 7) % 30
    image = Image.new("RGB", (size, size), (shade, shade, shade + 5 if shade < 250 else shade))
    d = ImageDraw.Draw(image)
    s = size / 256
    if category == "tshirt":
        d.polygon(
            [
                (s * x, s * y)
                for x, y in [
                    (70, 50),
                    (110, 40),
                    (146, 40),
                    (186, 50),
                    (230, 95),
                    (200, 120),
                    (180, 105),
                    (180, 220),
                    (76, 220),
                    (76, 105),
                    (56, 120),
                    (26, 95),
                ]
            ],
            fill=colour,
        )
    elif category == "mug":
        d.rounded_rectangle(
            [70 * s, 70 * s, 170 * s, 200 * s],
            radius=int(10 * s),
            fill=colour,
            outline=(80, 80, 80),
            width=max(1, int(3 * s)),
        )
        d.ellipse([150 * s, 100 * s, 210 * s, 165 * s], outline=colour, width=int(14 * s))
    elif category == "shoe":
        d.polygon(
            [
                (s * x, s * y)
                for x, y in [
                    (40, 170),
                    (60, 100),
                    (110, 100),
                    (140, 140),
                    (220, 160),
                    (225, 190),
                    (40, 190),
                ]
            ],
            fill=colour,
        )
        d.rectangle([40 * s, 190 * s, 226 * s, 200 * s], fill=(30, 30, 30))
    elif category == "lamp":
        d.polygon(
            [(s * x, s * y) for x, y in [(90, 50), (166, 50), (196, 120), (60, 120)]], fill=colour
        )
        d.rectangle([122 * s, 120 * s, 134 * s, 200 * s], fill=(70, 70, 70))
        d.ellipse([80 * s, 195 * s, 176 * s, 215 * s], fill=(70, 70, 70))
    elif category == "backpack":
        d.rounded_rectangle([70 * s, 60 * s, 186 * s, 215 * s], radius=int(30 * s), fill=colour)
        d.rounded_rectangle(
            [92 * s, 130 * s, 164 * s, 195 * s],
            radius=int(10 * s),
            outline=(20, 20, 20),
            width=max(1, int(3 * s)),
        )
        d.arc([100 * s, 30 * s, 156 * s, 90 * s], 180, 360, fill=(20, 20, 20), width=int(6 * s))
    else:  # watch
        d.rectangle([108 * s, 30 * s, 148 * s, 226 * s], fill=(90, 60, 40))
        d.ellipse(
            [78 * s, 78 * s, 178 * s, 178 * s],
            fill=colour,
            outline=(200, 200, 200),
            width=int(6 * s),
        )
        d.line([128 * s, 128 * s, 128 * s, 95 * s], fill=(240, 240, 240), width=int(4 * s))
        d.line([128 * s, 128 * s, 155 * s, 128 * s], fill=(240, 240, 240), width=int(3 * s))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


# -- loading ------------------------------------------------------------------------------------
def sample_parameters(products: list[SampleProduct]) -> dict[str, str]:
    """The four JSON parameters of ``sample_insert.sql``."""
    return {
        "products": json.dumps([{"id": p.id, "title": p.title} for p in products]),
        "images": json.dumps([{"id": i.id, "url": i.url} for p in products for i in p.images]),
        "product_images": json.dumps(
            [
                {"product_id": p.id, "image_id": i.id, "image_index": i.index}
                for p in products
                for i in p.images
            ]
        ),
        "descriptions": json.dumps(
            [
                {
                    "id": d.id,
                    "product_id": p.id,
                    "country_code": d.country_code,
                    "original_text": d.original_text,
                    "translated_text": d.translated_text,
                }
                for p in products
                for d in p.descriptions
            ]
        ),
    }


def create_schema(conn: Any) -> None:
    """Run ``schema.sql`` (idempotent) and commit."""
    with conn.cursor() as cursor:
        cursor.execute(load_sql("schema"))
    conn.commit()


def load_rows(conn: Any, products: list[SampleProduct]) -> dict[str, int]:
    """Replace the catalogue's rows by ``products`` in one transaction; returns the counts."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(load_sql("sample_reset"))
            cursor.execute(load_sql("sample_insert"), sample_parameters(products))
            counts = cursor.fetchone()
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    names = ("products", "images", "product_images", "descriptions")
    return dict(zip(names, (int(c) for c in counts), strict=True))


def upload_media(s3: Any, products: list[SampleProduct], raw_bucket: str) -> int:
    """Upload the pictures the sample's ``s3://`` URLs point at (idempotent overwrite).

    Images of kind ``missing`` and ``ftp`` get no object; ``not_image`` gets an HTML page
    under a ``.jpg`` name, as a misconfigured CDN would serve.
    """
    uploaded = 0
    for p in products:
        for image in p.images:
            if image.kind not in ("ok", "not_image") or not image.url.startswith("s3://"):
                continue
            key = image.url.split("/", 3)[3]
            if image.kind == "ok":
                body, content_type = draw_product(image.category, image.colour), "image/jpeg"
            else:
                body = b"<html><body>Image temporarily unavailable</body></html>"
                content_type = "text/html"
            s3.put_object(Bucket=raw_bucket, Key=key, Body=body, ContentType=content_type)
            uploaded += 1
    return uploaded


def load_sample(settings: Any, *, conn: Any = None, s3: Any = None) -> dict[str, int]:
    """Create the schema, (re)load the sample rows and upload the sample pictures.

    ``settings`` gives the catalogue connection and the raw bucket; ``conn`` and ``s3``
    default to the ``product_catalog_db`` connection and the ``aws_default`` S3 client.
    """
    from image_mlops.aws import aws_client
    from image_mlops.catalog.extract import catalog_hook

    products = build_sample(settings.raw_bucket)
    s3 = s3 or aws_client("s3", settings)
    own_conn = conn is None
    conn = conn if conn is not None else catalog_hook(settings).get_conn()
    try:
        create_schema(conn)
        counts = load_rows(conn, products)
    finally:
        if own_conn:
            conn.close()
    counts["media_objects"] = upload_media(s3, products, settings.raw_bucket)
    log.info("sample catalogue loaded: %s", counts)
    return counts
