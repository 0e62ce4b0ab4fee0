"""iac.manifest.validate: every problem of an Encord registration file (JSON or CSV), each with its place.

tests/registration-examples/ holds registration files written like the JSON examples of Encord's documentation,
each with the defects those examples carry (trailing commas, a repeated "image_groups" key, placeholders and file
names where URLs belong, image groups without "createVideo", gs:// URLs): the cases a user who copies an example meets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iac.manifest.formats import CSV_MAX_ROWS
from iac.manifest.jsonpos import JsonArray, JsonNode, JsonObject, parse_json
from iac.manifest.problems import Problem
from iac.manifest.validate import validate_file

EXAMPLES = Path(__file__).resolve().parent / "registration-examples"


# ---------------------------------------------------------------------------------------------------
# Registration files written like the documentation's JSON examples


def comma(line: int, where: str, closer: str) -> tuple[int, str, str]:
    return (line, where, f"trailing comma before '{closer}'")


def placeholder(line: int, where: str) -> list[tuple[int, str, str]]:
    """A documentation placeholder like "<file url>": it has a space, and it is no URL at all."""
    return [
        (line, where, "contains whitespace (a space at character"),
        (line, where, "looks like a placeholder, not an http(s) URL"),
    ]


CREATE_VIDEO_MISSING = '"createVideo" is missing: it is required for image_groups: false for an image group, true'

# What each example reports: (line, where, message fragment).
EXAMPLE_EXPECTED: dict[str, list[tuple[int, str, str]]] = {
    # audioMetadata closed with a trailing comma in each entry.
    "audio-metadata-commas.json": [comma(14, "audio[0]", "}"), comma(27, "audio[1]", "}")],
    # Azure: the image groups leave out the required createVideo; the URLs themselves are fine.
    "azure-groups-without-createvideo.json": [
        (11, "image_groups[0]", CREATE_VIDEO_MISSING),
        (16, "image_groups[1]", CREATE_VIDEO_MISSING),
    ],
    # DICOM: https://scans-bucket/... is a well-formed URL; two trailing commas. createVideo is optional here.
    "dicom-series-commas.json": [comma(11, "dicom_series[1]", "}"), comma(16, "dicom_series[2]", "}")],
    # GCS: gs:// is not fetchable by a browser; the image groups leave out createVideo.
    "gcs-scheme-and-groups-without-createvideo.json": [
        (4, "videos[0].objectUrl", "is not an http(s) URL: the browser cannot fetch gs:// URLs"),
        (8, "image_groups[0]", CREATE_VIDEO_MISSING),
        (14, "image_groups[1]", CREATE_VIDEO_MISSING),
    ],
    # Several file types: the second "image_groups" silently replaces the first (two sequences lost).
    "image-groups-key-repeated.json": [
        (
            31,
            "image_groups",
            'the key "image_groups" is given twice in the same object (lines 15 and 31); '
            "JSON parsers silently keep the last one; the first is lost",
        ),
    ],
    # Image groups (createVideo false): titles in angle brackets are fine, URLs in them are placeholders.
    "image-groups-placeholders.json": [
        *placeholder(6, "image_groups[0].objectUrl_0"),
        *placeholder(11, "image_groups[1].objectUrl_0"),
        *placeholder(12, "image_groups[1].objectUrl_1"),
        *placeholder(13, "image_groups[1].objectUrl_2"),
    ],
    # Image sequences (createVideo true): the same.
    "image-sequences-placeholders.json": [
        *placeholder(6, "image_groups[0].objectUrl_0"),
        *placeholder(11, "image_groups[1].objectUrl_0"),
        *placeholder(12, "image_groups[1].objectUrl_1"),
        *placeholder(13, "image_groups[1].objectUrl_2"),
    ],
    # Indented as on a web page; a comma after each imageMetadata and after the last image.
    "images-list-comma-indented.json": [
        comma(11, "images[0]", "}"),
        comma(21, "images[1]", "}"),
        comma(22, "images", "]"),
    ],
    # A comma after each imageMetadata.
    "images-metadata-commas.json": [
        comma(11, "images[0]", "}"),
        comma(21, "images[1]", "}"),
        comma(31, "images[2]", "}"),
    ],
    "images-placeholders.json": [*placeholder(4, "images[0].objectUrl"), *placeholder(7, "images[1].objectUrl")],
    # Open Telekom Cloud: a DICOM series of three files; nothing wrong.
    "otc-dicom-series.json": [],
    # A pdf on the Direct Access domain encord-da.acme.example: only the trailing comma is wrong.
    "pdf-on-direct-access-domain.json": [comma(9, "pdfs", "]")],
    "pdfs-list-comma.json": [comma(9, "pdfs", "]")],
    "text-list-comma.json": [comma(10, "text", "]")],
    # "clip.mp4" is a file name, not a URL the browser can fetch.
    "video-file-name-not-url.json": [(4, "videos[0].objectUrl", 'the object URL "clip.mp4" is not an http(s) URL')],
    # "<access point ARN> + <object key 1>": a placeholder with spaces.
    "videos-access-point-placeholders.json": [
        *placeholder(4, "videos[0].objectUrl"),
        *placeholder(7, "videos[1].objectUrl"),
    ],
    # videoMetadata closed with a trailing comma in each entry, and a comma after the last video.
    "videos-metadata-commas.json": [
        comma(13, "videos[0]", "}"),
        comma(25, "videos[1]", "}"),
        comma(26, "videos", "]"),
    ],
}


def test_the_examples_folder_holds_exactly_the_expected_examples() -> None:
    assert sorted(path.name for path in EXAMPLES.iterdir()) == sorted(EXAMPLE_EXPECTED)


@pytest.mark.parametrize("name", list(EXAMPLE_EXPECTED))
def test_documentation_style_example(name: str) -> None:
    problems = validate_file(EXAMPLES / name)
    expected = EXAMPLE_EXPECTED[name]
    assert len(problems) == len(expected), "\n".join(map(str, problems))
    for problem, (want_line, want_where, fragment) in zip(problems, expected, strict=True):
        assert (problem.line, problem.where) == (want_line, want_where), str(problem)
        assert fragment in problem.message, str(problem)


def trailing_commas(text: str) -> set[tuple[int, int]]:
    """(line, column) of each comma that ends a line whose next non-blank line closes an object or list."""
    lines = text.splitlines()
    found = set()
    for number, line in enumerate(lines, start=1):
        following = next((later.strip() for later in lines[number:] if later.strip()), "")
        if line.rstrip().endswith(",") and following[:1] in ("}", "]"):
            found.add((number, len(line.rstrip())))
    return found


@pytest.mark.parametrize("name", list(EXAMPLE_EXPECTED))
def test_trailing_commas_in_examples_are_reported_where_they_are(name: str) -> None:
    problems = validate_file(EXAMPLES / name)
    reported = {(p.line, p.column) for p in problems if p.message.startswith("trailing comma")}
    assert reported == trailing_commas((EXAMPLES / name).read_text(encoding="utf-8"))


def test_example_on_its_own_direct_access_domain() -> None:
    """The pdf example uses the example domain: with that domain only the comma is wrong."""
    path = EXAMPLES / "pdf-on-direct-access-domain.json"
    assert [p.line for p in validate_file(path, "encord-da.acme.example")] == [9]
    other = validate_file(path, "data.example.com")
    assert [(p.line, p.where) for p in other] == [(4, "pdfs[0].objectUrl"), (9, "pdfs")]
    assert "expected https://data.example.com/..." in other[0].message


# ---------------------------------------------------------------------------------------------------
# Broken files: each with its message and place

MISSING_COMMA = """\
{
  "images": [
    {"objectUrl": "https://d.example/a.jpg"}
    {"objectUrl": "https://d.example/b.jpg"}
  ]
}
"""
UNCLOSED = """\
{
  "images": [
    {"objectUrl": "https://d.example/a.jpg"}
"""
TRAILING_COMMA = """\
{
  "images": [
    {"objectUrl": "https://d.example/a.jpg"},
  ],
  "videos": [{"title": "x"}]
}
"""
DUPLICATE_KEY = """\
{
  "images": [{"objectUrl": "https://d.example/a.jpg"}],
  "images": [{"objectUrl": "https://d.example/b.jpg"}]
}
"""
UNKNOWN_KEY = """\
{
  "imagse": [{"objectUrl": "https://d.example/a.jpg"}]
}
"""
GAP = """\
{
  "image_groups": [
    {
      "title": "group",
      "createVideo": false,
      "objectUrl_0": "https://d.example/0.jpg",
      "objectUrl_2": "https://d.example/2.jpg"
    }
  ]
}
"""
NO_TITLES = """\
{
  "image_groups": [{"createVideo": true, "objectUrl_0": "https://d.example/0.jpg"}],
  "dicom_series": [{"objectUrl_0": "https://d.example/0.dcm"}]
}
"""
METADATA_TYPES = """\
{
  "images": [
    {
      "objectUrl": "https://d.example/a.jpg",
      "imageMetadata": {"mimeType": "image/jpeg", "fileSize": true, "width": "640", "height": 480}
    }
  ]
}
"""
METADATA_FIELDS = """\
{"videos": [{
  "objectUrl": "https://d.example/v.mp4",
  "videoMetadata": {
    "fps": 25, "duration": 1.5, "width": 1280, "height": 720,
    "fileSize": 10, "mime_type": "video/mp4"
  }
}]}
"""
METADATA_KIND = """\
{"images": [{
  "objectUrl": "https://d.example/a.jpg",
  "videoMetadata": {"fps": 25, "duration": 1, "width": 1, "height": 1, "file_size": 1, "mime_type": "video/mp4"}
}]}
"""
OFF_DOMAIN = """\
{"images": [
  {"objectUrl": "https://storage.googleapis.com/acme-data/a.jpg"},
  {"objectUrl": "https://data.acme.com/b.jpg"}
]}
"""

# (id, file name, content (None: no file), domain, [(line, column, where, message fragment), ...])
BROKEN: list[tuple[str, str, str | bytes | None, str | None, list[tuple[int, int, str, str]]]] = [
    (
        "invalid-json-missing-comma",
        "m.json",
        MISSING_COMMA,
        None,
        [(4, 5, "images", "expected ',' or ']', found '{': is a comma missing after the value on line 3?")],
    ),
    (
        "invalid-json-unclosed",
        "m.json",
        UNCLOSED,
        None,
        [(4, 1, "images", "unexpected end of the file: the '[' at line 2, column 13 is never closed")],
    ),
    (
        "invalid-json-single-quotes",
        "m.json",
        "{'images': []}",
        None,
        [(1, 2, "", "keys must be in double quotes")],
    ),
    (
        "trailing-comma-and-later-problem",
        "m.json",
        TRAILING_COMMA,
        None,
        [
            (3, 45, "images", "trailing comma before ']': JSON allows no comma after the last item; remove it"),
            (5, 14, "videos[0]", '"objectUrl" is missing'),
        ],
    ),
    (
        "duplicate-top-level-key",
        "m.json",
        DUPLICATE_KEY,
        None,
        [
            (
                3,
                3,
                "images",
                'the key "images" is given twice in the same object (lines 2 and 3); JSON parsers silently keep the '
                "last one; the first is lost",
            )
        ],
    ),
    (
        "duplicate-nested-key",
        "m.json",
        '{"videos": [{"objectUrl": "https://d.example/a.mp4", "objectUrl": "https://d.example/b.mp4"}]}',
        None,
        [(1, 54, "videos[0].objectUrl", "given twice in the same object (line 1, columns 14 and 54)")],
    ),
    (
        "unknown-top-level-key",
        "m.json",
        UNKNOWN_KEY,
        None,
        [(2, 3, "imagse", "unknown top-level key \"imagse\"; did you mean 'images'?")],
    ),
    (
        "missing-object-url",
        "m.json",
        '{"videos": [{"title": "clip.mp4"}]}',
        None,
        [(1, 13, "videos[0]", '"objectUrl" is missing: each item of videos needs the URL of its file')],
    ),
    (
        "whitespace-in-url",
        "m.json",
        '{"images": [{"objectUrl": "https://d.example/my photo.jpg"}]}',
        None,
        [(1, 27, "images[0].objectUrl", "contains whitespace (a space at character 21)")],
    ),
    (
        "gap-in-numbered-urls",
        "m.json",
        GAP,
        None,
        [(7, 7, "image_groups[0]", "objectUrl_1 is missing: the files must be numbered objectUrl_0 to objectUrl_2")],
    ),
    (
        "create-video-as-string",
        "m.json",
        '{"image_groups": [{"title": "g", "createVideo": "false", "objectUrl_0": "https://d.example/0.jpg"}]}',
        None,
        [(1, 49, "image_groups[0].createVideo", "createVideo must be the JSON boolean false without quotes")],
    ),
    (
        "missing-titles",
        "m.json",
        NO_TITLES,
        None,
        [
            (2, 20, "image_groups[0]", '"title" is missing: each item of image_groups needs a title'),
            (3, 20, "dicom_series[0]", '"title" is missing: each item of dicom_series needs a title'),
        ],
    ),
    (
        "missing-create-video",
        "m.json",
        '{"image_groups": [{"title": "g", "objectUrl_0": "https://d.example/0.jpg"}]}',
        None,
        [(1, 19, "image_groups[0]", CREATE_VIDEO_MISSING)],
    ),
    (
        "metadata-wrong-types",
        "m.json",
        METADATA_TYPES,
        None,
        [
            (5, 63, "images[0].imageMetadata.fileSize", "imageMetadata.fileSize must be an integer, not true"),
            (5, 78, "images[0].imageMetadata.width", 'imageMetadata.width must be an integer, not the string "640"'),
        ],
    ),
    (
        "metadata-missing-and-unknown-field",
        "m.json",
        METADATA_FIELDS,
        None,
        [
            (3, 20, "videos[0].videoMetadata", 'videoMetadata is missing "file_size" (an integer)'),
            (
                5,
                5,
                "videos[0].videoMetadata.fileSize",
                "unknown field \"fileSize\" in videoMetadata; did you mean 'file_size'?",
            ),
        ],
    ),
    (
        "metadata-of-another-kind",
        "m.json",
        METADATA_KIND,
        None,
        [
            (
                3,
                3,
                "images[0].videoMetadata",
                '"videoMetadata" is the metadata of videos; items of images take "imageMetadata"',
            )
        ],
    ),
    (
        "url-not-on-domain",
        "m.json",
        OFF_DOMAIN,
        "data.acme.com",
        [
            (
                2,
                17,
                "images[0].objectUrl",
                '"https://storage.googleapis.com/acme-data/a.jpg" is not on the Direct Access domain: '
                "expected https://data.acme.com/...",
            )
        ],
    ),
    (
        "csv-unknown-header",
        "m.csv",
        "ObjectUrl,Video name\nhttps://d.example/a.mp4,clip\n",
        None,
        [(1, 11, "row 1 (header)", "unknown heading \"Video name\" in the header row; did you mean 'Video title'?")],
    ),
    (
        "csv-missing-header",
        "m.csv",
        "https://d.example/a.mp4,clip\nhttps://d.example/b.mp4,clip\n",
        None,
        [(1, 0, "row 1", "the file does not start with a header row")],
    ),
    (
        "csv-bad-create-video",
        "m.csv",
        "ObjectUrl,Image group title,Create video\nhttps://d.example/a.jpg,Group 1,yes\n",
        None,
        [(2, 33, "row 2, column Create video", 'Create video must be true, false or blank, not "yes"')],
    ),
    (
        "csv-missing-image-group-title",
        "m.csv",
        "ObjectUrl,Image group title,Create video\nhttps://d.example/a.jpg,,false\n",
        None,
        [(2, 25, "row 2, column Image group title", "the image group title is empty: it is required")],
    ),
    (
        "csv-over-row-limit",
        "m.csv",
        "ObjectUrl,Video title\n" + "".join(f"https://d.example/{n}.mp4,\n" for n in range(CSV_MAX_ROWS + 1)),
        None,
        [
            (
                CSV_MAX_ROWS + 2,
                0,
                f"row {CSV_MAX_ROWS + 2}",
                "the file has 10,001 data rows; Encord accepts at most 10,000 in one CSV file: split it into 2 files",
            )
        ],
    ),
    (
        "csv-wrong-column-count",
        "m.csv",
        "ObjectUrl,Video title\nhttps://d.example/a.mp4,clip,extra\nhttps://d.example/b.mp4\n",
        None,
        [
            (2, 0, "row 2", "this row has 3 columns but its header (row 1) has 2"),
            (3, 0, "row 3", "this row has 1 column but its header (row 1) has 2"),
        ],
    ),
    (
        "csv-url-problems",
        "m.csv",
        "ObjectUrl,Video title\nhttps://storage.googleapis.com/b/a.mp4,x\n,y\nhttps://d.example/a b.mp4,z\n",
        "d.example",
        [
            (2, 1, "row 2, column ObjectUrl", "is not on the Direct Access domain: expected https://d.example/..."),
            (3, 1, "row 3, column ObjectUrl", "ObjectUrl is empty"),
            (4, 1, "row 4, column ObjectUrl", "contains whitespace (a space at character 20)"),
        ],
    ),
    ("unreadable-missing", "absent.json", None, None, [(0, 0, "", "cannot read the file: it does not exist")]),
    (
        "unreadable-not-utf8",
        "m.json",
        b'{"images": [\n  {"objectUrl": "https://d.example/caf\xe9.jpg"}\n]}\n',
        None,
        [(2, 39, "", "the file is not UTF-8 text (byte 0xe9 here); save it as UTF-8")],
    ),
]


@pytest.mark.parametrize(("name", "content", "domain", "expected"), [pytest.param(*c[1:], id=c[0]) for c in BROKEN])
def test_broken_file(
    tmp_path: Path,
    name: str,
    content: str | bytes | None,
    domain: str | None,
    expected: list[tuple[int, int, str, str]],
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    problems = validate_file(path, domain)
    assert len(problems) == len(expected), "\n".join(map(str, problems))
    for problem, (line, column, where, fragment) in zip(problems, expected, strict=True):
        assert problem.path == str(path)
        assert (problem.line, problem.column, problem.where) == (line, column, where), str(problem)
        assert fragment in problem.message, str(problem)


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    path.write_text(
        "{\n"
        '  "images": [{"objectUrl": "https://d.example/a b.jpg", "imageMetadata": {"width": "1"},},],\n'
        '  "videos": [{"objectURL": "https://d.example/v.mp4", "createVideo": "yes"}],\n'
        '  "skip_duplicate_urls": "true",\n'
        '  "skip_duplicate_urls": true,\n'
        "}\n",
        encoding="utf-8",
    )
    shown = [f"{p.line}:{p.column} {p.where}: {p.message.split(':')[0].split(';')[0]}" for p in validate_file(path)]
    assert shown == [
        '2:28 images[0].objectUrl: the object URL "https',  # whitespace (the message quotes the URL)
        '2:74 images[0].imageMetadata: imageMetadata is missing "mimeType" (a string)',
        '2:74 images[0].imageMetadata: imageMetadata is missing "fileSize" (an integer)',
        '2:74 images[0].imageMetadata: imageMetadata is missing "height" (an integer)',
        '2:84 images[0].imageMetadata.width: imageMetadata.width must be an integer, not the string "1"',
        "2:88 images[0]: trailing comma before '}'",
        "2:90 images: trailing comma before ']'",
        '3:14 videos[0]: "objectUrl" is missing',
        '3:15 videos[0].objectURL: unknown key "objectURL" in an item of videos',
        '3:70 videos[0].createVideo: createVideo must be true or false, not the string "yes"',
        '4:26 skip_duplicate_urls: "skip_duplicate_urls" must be true or false (without quotes), not the string "true"',
        '5:3 skip_duplicate_urls: the key "skip_duplicate_urls" is given twice in the same object (lines 4 and 5)',
        "5:30 : trailing comma before '}'",
    ]


def test_a_syntax_error_after_trailing_commas_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"images": [{"objectUrl": "https://d.example/a.jpg",}], "videos": [} ', encoding="utf-8")
    assert [(p.line, p.column, p.message) for p in validate_file(path)] == [
        (1, 52, "trailing comma before '}': JSON allows no comma after the last member; remove it"),
        (1, 68, "a value is missing before '}'"),
    ]


def test_unknown_key_in_a_unit_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"images": [{"objectUrl": "https://d.example/a.jpg", "tilte": "a"}]}', encoding="utf-8")
    [problem] = validate_file(path)
    assert problem.where == "images[0].tilte"
    assert "unknown key \"tilte\" in an item of images; did you mean 'title'?" in problem.message


# ---------------------------------------------------------------------------------------------------
# Valid files report nothing

VALID_JSON = """\
{
  "images": [
    {
      "objectUrl": "https://data.acme.com/images/a.jpg",
      "title": "a.jpg",
      "createVideo": false,
      "clientMetadata": {"camera": "left", "tags": ["x", "y"]},
      "imageMetadata": {"mimeType": "image/jpeg", "fileSize": 124, "width": 640, "height": 480}
    }
  ],
  "videos": [
    {
      "objectUrl": "https://data.acme.com/videos/v.mp4",
      "videoMetadata": {
        "fps": 23.98, "duration": 29, "width": 1280, "height": 720, "file_size": 5468354, "mime_type": "video/mp4"
      }
    }
  ],
  "audio": [
    {
      "objectUrl": "https://data.acme.com/audio/a.mp3",
      "audioMetadata": {
        "duration": 23.02, "file_size": 2900000, "mime_type": "audio/mp3", "sample_rate": 44100,
        "bit_depth": 24, "codec": "mp3", "num_channels": 2
      }
    }
  ],
  "pdfs": [{"objectUrl": "https://data.acme.com/docs/b.pdf", "pdfMetadata": {"fileSize": 900, "numPages": 42}}],
  "text": [
    {"objectUrl": "https://data.acme.com/text/t.txt", "textMetadata": {"fileSize": 200, "mime_type": "text/plain"}}
  ],
  "image_groups": [
    {"title": "group", "createVideo": false, "objectUrl_0": "https://data.acme.com/g/0.jpg"},
    {
      "title": "sequence",
      "createVideo": true,
      "objectUrl_1": "https://data.acme.com/s/1.jpg",
      "objectUrl_0": "https://data.acme.com/s/0.jpg"
    }
  ],
  "dicom_series": [{"title": "series", "objectUrl_0": "https://data.acme.com/d/0.dcm"}],
  "skip_duplicate_urls": true
}
"""

VALID_CSV = """\
ObjectUrl,Image group title,Create video
https://data.acme.com/frame1.jpg,Sequence 1,true
https://data.acme.com/frame2.jpg,Sequence 1,
https://data.acme.com/frame5.jpg,Group 1,FALSE
objecturl , IMAGE TITLE,create video
https://data.acme.com/frame1.jpg,Image 1,false
ObjectUrl,Video title
https://data.acme.com/video.mp4,
"https://data.acme.com/video2.mp4","A title, with a comma"

ObjectUrl,Series title
https://data.acme.com/frame1.dcm,dicom series 1
ObjectUrl
https://data.acme.com/video3.mp4
"""


@pytest.mark.parametrize(("name", "content"), [("valid.json", VALID_JSON), ("valid.csv", VALID_CSV)])
@pytest.mark.parametrize("domain", [None, "data.acme.com", "DATA.ACME.COM"])
def test_valid_file_reports_nothing(tmp_path: Path, name: str, content: str, domain: str | None) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert validate_file(path, domain) == []


def test_utf8_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfObjectUrl,Video title\r\nhttps://d.example/a.mp4,clip\r\n")
    assert validate_file(path) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('  {"videos": [{"title": "x"}]}', '"objectUrl" is missing'),
        ("ObjectUrl,Video title\n,x\n", "ObjectUrl is empty"),
    ],
    ids=["json", "csv"],
)
def test_format_is_sniffed_without_a_known_extension(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "manifest.txt"
    path.write_text(content, encoding="utf-8")
    [problem] = validate_file(path)
    assert message in problem.message


# ---------------------------------------------------------------------------------------------------
# The parser and Problem


def as_python(node: JsonNode) -> object:
    if isinstance(node, JsonObject):
        return {member.key: as_python(member.value) for member in node.members}
    if isinstance(node, JsonArray):
        return [as_python(item) for item in node.items]
    return node.value


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, -0, 2.5, 1e5, -1.5E-3, true, false, null, {}, []], "b": {"c": "d"}}',
        r'{"escapes": "\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00", "": "empty key", "é": "ü"}',
        '\n\t [ "x" , { "y" :\r\n 1 } ] \n',
    ],
)
def test_parser_reads_what_the_standard_library_reads(text: str) -> None:
    root, problems = parse_json(text, "t.json")
    assert problems == []
    assert root is not None
    assert as_python(root) == json.loads(text)


def test_parser_records_positions_of_keys_and_values() -> None:
    root, _ = parse_json('{\n  "images": [\n    {"objectUrl": "u"}\n  ]\n}', "t.json")
    assert isinstance(root, JsonObject)
    [images] = root.members
    assert (images.line, images.column) == (2, 3)
    assert isinstance(images.value, JsonArray)
    assert (images.value.line, images.value.column) == (2, 13)
    [unit] = images.value.items
    assert isinstance(unit, JsonObject)
    [url] = unit.members
    assert (url.line, url.column, url.value.line, url.value.column) == (3, 6, 3, 19)


def test_problem_text() -> None:
    assert str(Problem("m.json", 3, 7, "images[0]", "bad")) == "m.json:3:7: images[0]: bad"
    assert str(Problem("m.json", 3, 7, "", "bad")) == "m.json:3:7: bad"
    assert str(Problem("m.csv", 5, 0, "row 5", "bad")) == "m.csv:5: row 5: bad"
    assert str(Problem("m.json", 0, 0, "", "bad")) == "m.json: bad"


# --- issue 16.18, 16.19: what a reader would read differently is a problem at its line and column -----------


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        ('ObjectUrl,Image title\nhttps://d.example/a.jpg,a\n"https://d.example/b.jpg,b\n', 3, 1),
        ('ObjectUrl,Image title\nhttps://d.example/a.jpg,"a\nhttps://d.example/b.jpg,b\n', 2, 25),
        ('ObjectUrl,Image title\nhttps://d.example/a.jpg,"a ""quoted"" title\n', 2, 25),
    ],
)
def test_a_csv_quote_that_is_never_closed_is_a_problem_where_it_opens(
    tmp_path: Path, content: str, line: int, column: int
) -> None:
    path = tmp_path / "m.csv"
    path.write_text(content, encoding="utf-8")
    problems = validate_file(path, "d.example")
    found = [p for p in problems if "never closed" in p.message]
    assert [(p.line, p.column) for p in found] == [(line, column)], "\n".join(map(str, problems))
    assert "to the end of the file" in found[0].message


def test_a_closed_quote_with_a_comma_and_a_line_break_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text('ObjectUrl,Image title\nhttps://d.example/a.jpg,"a, b\nc"\n', encoding="utf-8")
    assert validate_file(path, "d.example") == []


@pytest.mark.parametrize("digits", [5_000, 100_000])
def test_a_number_too_long_to_read_is_a_problem_not_a_traceback(tmp_path: Path, digits: int) -> None:
    path = tmp_path / "m.json"
    prefix = '{"images": [\n  {"objectUrl": "https://d.example/a.jpg", "title": '
    path.write_text(prefix + "9" * digits + "}\n]}\n", encoding="utf-8")
    [problem] = validate_file(path, "d.example")
    assert (problem.line, problem.column) == (2, len(prefix) - len('{"images": [\n') + 1)
    assert f"a number of {digits:,} digits" in problem.message


@pytest.mark.parametrize(
    "url",
    [
        "https://d.example/./x.jpg",
        "https://d.example/a/../x.jpg",
        "https://d.example/a/.",
        "https://d.example/a/..",
        "https://d.example/%2e/x.jpg",
        "https://d.example/a/%2E%2e/x.jpg",
        "https://d.example/a/.%2E/x.jpg",
    ],
)
def test_a_dot_segment_in_an_object_url_is_flagged(tmp_path: Path, url: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"images": [{"objectUrl": url, "title": "x"}]}), encoding="utf-8")
    problems = validate_file(path, "d.example")
    assert any("'.' or '..' path segment" in p.message for p in problems), "\n".join(map(str, problems))
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(f"ObjectUrl,Image title\n{url},x\n", encoding="utf-8")
    problems = validate_file(csv_path, None)
    assert any("'.' or '..' path segment" in p.message for p in problems), "\n".join(map(str, problems))


@pytest.mark.parametrize("url", ["https://d.example/.hidden/x.jpg", "https://d.example/a/...", "https://d.example/..x"])
def test_names_with_dots_that_are_not_dot_segments_are_fine(tmp_path: Path, url: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"images": [{"objectUrl": url, "title": "x"}]}), encoding="utf-8")
    assert validate_file(path, "d.example") == []


def test_what_a_problem_quotes_from_the_file_is_printed_escaped(cli, tmp_path: Path) -> None:
    """A URL holding terminal controls (C1 CSI, a bidirectional override) cannot rewrite the terminal."""
    path = tmp_path / "m.json"
    url = "https://other.example/a\u009b2J\u202egpj.exe"
    path.write_text(json.dumps({"images": [{"objectUrl": url, "title": "x"}]}, ensure_ascii=False), encoding="utf-8")
    config = tmp_path / "iac.yaml"
    config.write_text(
        "project: my-gcp-project\ndomain: d.example\nbucket: {name: encord-data, create: false}\n"
        "allowlist: [39.42.20.11/32]\n"
    )
    result = cli("manifest", "validate", "-c", config, path)
    assert result.exit_code == 1
    assert "\u009b" not in result.stderr and "\u202e" not in result.stderr
    assert "a\\x9b2J\\u202egpj.exe" in result.stderr
