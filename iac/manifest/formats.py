"""What Encord's registration JSON and CSV formats accept (Encord's "Import cloud data" documentation)."""

from __future__ import annotations

# Top-level JSON keys holding lists of data units, by the kind of data they hold.
KIND_KEYS = {
    "images": "images",
    "videos": "videos",
    "audio": "audio",
    "pdfs": "pdfs",
    "text": "text",
    "image_groups": "image_groups",
    "dicom": "dicom_series",
}
FLAG_KEYS = {"skip_duplicate_urls": bool}
TOP_LEVEL_KEYS = frozenset(KIND_KEYS.values()) | frozenset(FLAG_KEYS)

# Units whose files are numbered objectUrl_0..N instead of one objectUrl, and need a title.
MULTI_FILE_KEYS = frozenset({"image_groups", "dicom_series"})

# Per-unit metadata for strict client-only access: the key and the type of each field.
_NUMBER = (int, float)
METADATA = {
    "images": ("imageMetadata", {"mimeType": str, "fileSize": int, "width": int, "height": int}),
    "videos": (
        "videoMetadata",
        {"fps": _NUMBER, "duration": _NUMBER, "width": int, "height": int, "file_size": int, "mime_type": str},
    ),
    "audio": (
        "audioMetadata",
        {
            "duration": _NUMBER,
            "file_size": int,
            "mime_type": str,
            "sample_rate": int,
            "bit_depth": int,
            "codec": str,
            "num_channels": int,
        },
    ),
    "pdfs": ("pdfMetadata", {"fileSize": int, "numPages": int}),
    "text": ("textMetadata", {"fileSize": int, "mime_type": str}),
}

# CSV: the header row of each kind (headings are case-insensitive), and the row limit of one file.
CSV_HEADERS = {
    "videos": ("ObjectUrl", "Video title"),
    "images": ("ObjectUrl", "Image title"),
    "image_groups": ("ObjectUrl", "Image group title", "Create video"),
    "dicom_series": ("ObjectUrl", "Series title"),
}
CSV_MAX_ROWS = 10_000

# Encord's recommended batch sizes for one registration file.
DEFAULT_BATCH = {"images": 1000, "videos": 100, "audio": 100, "pdfs": 1000, "text": 1000, "dicom_series": 100}
