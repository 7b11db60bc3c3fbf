"""``image-mlops upload``: put your own images where the pipeline picks them up."""

from __future__ import annotations

import argparse
from pathlib import Path

from image_mlops.commands import CommandError, local_settings

AREAS = {
    "labeled": "labeled/",  # DIR/<class>/<file>: training data
    "incoming": "incoming/",  # DIR/<file>: images to classify
    "feedback": "feedback/",  # DIR/*.csv with key,label: ground truth for monitoring
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upload",
        help="upload a local folder into the raw bucket (labeled/, incoming/ or feedback/)",
        description=(
            "labeled: DIR has one sub-folder per class; incoming: images to classify; "
            "feedback: CSV files with the header key,label (key = incoming/<file name>). "
            "validate_images picks the images up on its next run."
        ),
    )
    parser.add_argument("area", choices=sorted(AREAS))
    parser.add_argument("folder", type=Path)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from image_mlops.aws import upload_tree

    folder: Path = args.folder
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder", exit_code=2)
    if args.area == "labeled" and not any(p.is_dir() for p in folder.iterdir()):
        raise CommandError(
            f"{folder} has no class sub-folders: use {folder}/<class>/<image>", exit_code=2
        )
    settings = local_settings()
    count = upload_tree(settings, folder, AREAS[args.area])
    print(f"uploaded {count} files to s3://{settings.raw_bucket}/{AREAS[args.area]}")
    return 0
