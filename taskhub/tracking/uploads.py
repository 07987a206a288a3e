"""Validate uploaded evidence files (佐证材料): type by content, safe names, archive limits.

Rules, in order:

* Empty files and files over ``max_bytes`` are refused (the caller must also cap the request
  size, e.g. ``MAX_CONTENT_LENGTH``, since this function receives the bytes in memory).
* The name is reduced to a safe basename; a name with nothing usable left is ``bad_name``.
* The type is detected from the content only (``filetype`` plus the container checks below).
  Zip containers are classified by their parts: ``[Content_Types].xml`` with ``word/``,
  ``xl/`` or ``ppt/`` is docx/xlsx/pptx, ``OFD.xml`` is OFD, anything else is a plain zip.
  OLE2 containers (doc/xls/ppt and WPS's wps/et/dps) are classified by their stream names.
  RAR and 7z are accepted by signature only: they are not inspected.
* The declared extension must belong to the detected type's family (Word, spreadsheet,
  presentation, image, archive, …), otherwise ``type_mismatch``. Within a family a wrong
  extension is corrected (a WebP saved as ``.jpg`` becomes ``.webp``; an xlsx saved as ``.xls``
  becomes ``.xlsx``), so a plain zip renamed ``.docx`` is rejected, never stored as Word.
  A name without an extension gets the detected one.
* Zip containers, OOXML included, are inspected through the central directory without
  extracting anything: ``..`` or absolute member paths and symlinks are ``archive_unsafe``;
  too many entries, too much expanded data or an extreme compression ratio is ``archive_bomb``.
  The sizes checked are the ones the archive declares; nested archives are not opened.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import filetype

RejectCode = Literal[
    "empty",
    "too_large",
    "type_not_allowed",
    "type_mismatch",
    "bad_name",
    "archive_bomb",
    "archive_unsafe",
    "corrupt",
]

#: Accepted types: canonical extension -> the MIME type files of that type are served with.
#: wps/et/dps are WPS Office's names for binary files in the doc/xls/ppt format.
ALLOWED: dict[str, str] = {
    "pdf": "application/pdf",
    "ofd": "application/ofd",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "wps": "application/msword",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "et": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "dps": "application/vnd.ms-powerpoint",
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
}

#: Extensions that agree with each other; a wrong one within a family is corrected.
_FAMILY: dict[str, str] = {
    "pdf": "pdf",
    "ofd": "ofd",
    "doc": "word",
    "docx": "word",
    "wps": "word",
    "xls": "sheet",
    "xlsx": "sheet",
    "et": "sheet",
    "ppt": "slides",
    "pptx": "slides",
    "dps": "slides",
    "jpg": "image",
    "png": "image",
    "gif": "image",
    "webp": "image",
    "bmp": "image",
    "tif": "image",
    "zip": "archive",
    "rar": "archive",
    "7z": "archive",
}

#: Other spellings of the same type; the user's spelling is kept.
_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "jfif": "jpg", "tiff": "tif"}
#: Declared extensions that name exactly the detected binary format (kept as given).
_SAME_FORMAT = {"doc": {"wps"}, "xls": {"et"}, "ppt": {"dps"}}

#: Types ``filetype`` recognises reliably by signature alone (apng is a png).
_BY_SIGNATURE = {"pdf", "jpg", "png", "apng", "gif", "webp", "bmp", "tif", "rar", "7z"}

_NAMES: dict[str, tuple[str, str]] = {
    "pdf": ("PDF 文档", "PDF document"),
    "ofd": ("OFD 版式文档", "OFD document"),
    "doc": ("Word 文档", "Word document"),
    "docx": ("Word 文档", "Word document"),
    "wps": ("WPS 文字文档", "WPS Writer document"),
    "xls": ("Excel 表格", "Excel workbook"),
    "xlsx": ("Excel 表格", "Excel workbook"),
    "et": ("WPS 表格", "WPS Spreadsheets workbook"),
    "ppt": ("PowerPoint 演示文稿", "PowerPoint presentation"),
    "pptx": ("PowerPoint 演示文稿", "PowerPoint presentation"),
    "dps": ("WPS 演示文稿", "WPS Presentation"),
    "jpg": ("JPEG 图片", "JPEG image"),
    "png": ("PNG 图片", "PNG image"),
    "gif": ("GIF 图片", "GIF image"),
    "webp": ("WebP 图片", "WebP image"),
    "bmp": ("BMP 图片", "BMP image"),
    "tif": ("TIFF 图片", "TIFF image"),
    "zip": ("ZIP 压缩包", "ZIP archive"),
    "rar": ("RAR 压缩包", "RAR archive"),
    "7z": ("7Z 压缩包", "7z archive"),
}

#: The file input's ``accept``: a phone offers its camera and photo library for ``image/*``
#: and its files for the extensions (no ``capture``, which would allow the camera only).
ACCEPT = ",".join(["image/*", *(f".{ext}" for ext in [*ALLOWED, *_ALIASES])])

ALLOWED_SUMMARY_ZH = (
    "PDF、OFD、Word、Excel、PowerPoint、WPS 文档，图片（JPG、PNG、GIF、WebP、BMP、TIFF），"
    "压缩包（ZIP、RAR、7Z）"
)
ALLOWED_SUMMARY_EN = (
    "PDF, OFD, Word, Excel, PowerPoint and WPS documents, images (JPG, PNG, GIF, WebP, BMP, "
    "TIFF), archives (ZIP, RAR, 7Z)"
)

#: Longest stored name, extension included.
MAX_NAME_CHARS = 200
#: Below this expanded size an archive cannot hurt, whatever its ratio (tiny files of
#: repeated bytes compress far beyond 100:1).
_RATIO_FLOOR = 8 * 1024 * 1024

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
#: OLE2 stream names that identify the document inside the container.
_OLE2_STREAMS = (
    ("WordDocument", "doc"),
    ("Workbook", "xls"),
    ("Book", "xls"),
    ("PowerPoint Document", "ppt"),
    ("EncryptedPackage", "encrypted"),
)
_EXTENSION = re.compile(r"(?=[a-z0-9]*[a-z])[a-z0-9]{1,5}")
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)]
)


class UploadRejected(ValueError):
    """An upload was refused; ``code`` for programs, the messages for people."""

    def __init__(self, code: RejectCode, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code: RejectCode = code
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class CheckedUpload:
    """An accepted upload: a name safe to store and show, and the type seen in the content."""

    safe_name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class _Limits:
    max_ratio: int
    max_total: int
    max_entries: int


def check_upload(
    filename: str,
    data: bytes,
    *,
    max_bytes: int,
    max_archive_ratio: int = 100,
    max_archive_total: int = 500 * 1024 * 1024,
    max_archive_entries: int = 10_000,
) -> CheckedUpload:
    """Accept an uploaded file or raise UploadRejected saying why."""
    name = sanitize_filename(filename)
    shown = _shorten(name or _strip_controls(filename) or "?")
    size = len(data)
    if size == 0:
        raise UploadRejected(
            "empty",
            f"「{shown}」是空文件（0 字节），请检查后重新上传。",
            f'"{shown}" is empty (0 bytes).',
        )
    if size > max_bytes:
        limit = format_size(max_bytes)
        # Just over the limit both round alike ("1 MB" over "1 MB"); show exact bytes then.
        actual = format_size(size) if format_size(size) != limit else f"{size:,} B"
        raise UploadRejected(
            "too_large",
            f"「{shown}」大小为 {actual}，超过单个文件上限 {limit}。请压缩或拆分后再上传。",
            f'"{shown}" is {actual}, over the limit of {limit}.',
        )
    if not name:
        raise UploadRejected(
            "bad_name",
            f"文件名「{shown}」无效，请改用包含文字的文件名后重新上传。",
            f'The file name "{shown}" is not usable; please rename the file.',
        )
    limits = _Limits(max_archive_ratio, max_archive_total, max_archive_entries)
    stem, declared = _split_extension(name)
    detected = _detect(data, shown, declared, limits)
    extension = _agreeing_extension(declared, detected, shown)
    content_type = ALLOWED[_ALIASES.get(extension, extension)]
    return CheckedUpload(_join(stem, extension), content_type, size)


# -- names --------------------------------------------------------------------------------------


def sanitize_filename(filename: str) -> str:
    """Reduce a client-supplied name to a safe basename (may return "" when nothing is left)."""
    name = unicodedata.normalize("NFC", filename)
    # Browsers on Windows (old IE/Edge) send the full client path; keep its last part.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _strip_controls(name)
    name = _WINDOWS_FORBIDDEN.sub("_", name)
    name = " ".join(name.split())
    # Leading dots hide files and ".." means the parent; trailing dots/spaces vanish on Windows.
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return ""
    stem, extension = _split_extension(name)
    if stem.split(".", 1)[0].upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    return _join(stem, extension)


def _strip_controls(text: str) -> str:
    # Cc: control characters; Cf: format characters such as U+202E, which can make
    # "evil\u202egpj.exe" display as "evilexe.jpg"; Cs: lone surrogates from bad decoding.
    return "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})


def _split_extension(name: str) -> tuple[str, str | None]:
    """Split off a lowercase extension when the suffix looks like one ("v2.1" has none)."""
    stem, dot, suffix = name.rpartition(".")
    suffix = suffix.lower()
    if dot and stem.rstrip(". ") and _EXTENSION.fullmatch(suffix):
        return stem.rstrip(". "), suffix
    return name, None


def _join(stem: str, extension: str | None) -> str:
    tail = f".{extension}" if extension else ""
    stem = stem[: MAX_NAME_CHARS - len(tail)].rstrip(". ")
    return f"{stem}{tail}"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- types --------------------------------------------------------------------------------------


def _detect(data: bytes, shown: str, declared: str | None, limits: _Limits) -> str:
    """The canonical extension of the content's type; raises when it is not accepted."""
    if data.startswith(_OLE2_MAGIC):
        return _detect_ole2(data, shown, declared)
    if data.startswith(_ZIP_MAGICS):
        return _inspect_zip(data, shown, limits)
    kind = filetype.guess(data)
    found: str | None = kind.extension if kind is not None else None
    if found in _BY_SIGNATURE:
        return "png" if found == "apng" else str(found)
    if found is None:
        raise UploadRejected(
            "type_not_allowed",
            f"无法识别「{shown}」的文件类型，不能上传。允许的类型：{ALLOWED_SUMMARY_ZH}。",
            f'The type of "{shown}" could not be recognised. Allowed: {ALLOWED_SUMMARY_EN}.',
        )
    label = str(found).upper()
    raise UploadRejected(
        "type_not_allowed",
        f"「{shown}」的实际内容是 {label} 文件，不允许上传。允许的类型：{ALLOWED_SUMMARY_ZH}。",
        f'"{shown}" is a {label} file, which is not allowed. Allowed: {ALLOWED_SUMMARY_EN}.',
    )


def _detect_ole2(data: bytes, shown: str, declared: str | None) -> str:
    """Tell doc/xls/ppt apart by the streams they must contain (MSI, MSG etc. have none)."""
    found = [ext for stream, ext in _OLE2_STREAMS if _has_ole2_stream(data, stream)]
    documents = [ext for ext in found if ext != "encrypted"]
    if documents:
        # Embedded objects bring their own streams (a workbook inside a Word file), so prefer
        # the kind the name announces, then Word, Excel, PowerPoint in that order.
        wanted = _ALIASES.get(declared or "", declared)
        for ext in documents:
            if wanted == ext or wanted in _SAME_FORMAT[ext]:
                return ext
        return documents[0]
    if found:
        # Password-protected Office 2007+ files are OLE2 wrappers; reviewers cannot open them.
        raise UploadRejected(
            "type_not_allowed",
            f"「{shown}」设置了打开密码，审核人无法查看。请取消密码后重新上传。",
            f'"{shown}" is password-protected, so reviewers cannot open it. '
            "Remove the password and upload it again.",
        )
    raise UploadRejected(
        "type_not_allowed",
        f"「{shown}」不是 Word、Excel 或 PowerPoint 文档，不允许上传。"
        f"允许的类型：{ALLOWED_SUMMARY_ZH}。",
        f'"{shown}" is not a Word, Excel or PowerPoint document. Allowed: {ALLOWED_SUMMARY_EN}.',
    )


def _has_ole2_stream(data: bytes, stream: str) -> bool:
    """Whether an OLE2 directory entry names ``stream``.

    Directory entries are 128-byte records in sectors after the 512-byte header: a UTF-16LE
    name, then at 0x40 the name's byte length (terminator included) and at 0x42 the object
    type (2 = stream). Matching all three at an aligned offset avoids hits in document text.
    """
    needle = stream.encode("utf-16-le") + b"\x00\x00"
    length = len(needle).to_bytes(2, "little")
    at = data.find(needle, 512)
    while at != -1:
        if at % 128 == 0 and data[at + 0x40 : at + 0x43] == length + b"\x02":
            return True
        at = data.find(needle, at + 1)
    return False


def _inspect_zip(data: bytes, shown: str, limits: _Limits) -> str:
    """Check a zip container's directory (nothing is decompressed) and classify it."""
    entries_bound = _central_directory_entries(data)
    if entries_bound > limits.max_entries:
        raise _too_many_entries(shown, entries_bound, limits.max_entries)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise UploadRejected(
            "corrupt",
            f"「{shown}」已损坏或不完整，无法读取，请重新生成后上传。",
            f'"{shown}" is damaged or incomplete and cannot be read ({exc}).',
        )
    if len(infos) > limits.max_entries:
        raise _too_many_entries(shown, len(infos), limits.max_entries)
    total = 0
    for info in infos:
        if _unsafe_member(info):
            entry = _shorten(_strip_controls(info.filename), 80)
            raise UploadRejected(
                "archive_unsafe",
                f"「{shown}」包含不安全的路径「{entry}」（绝对路径、“..”或符号链接），已拒绝。",
                f'"{shown}" contains an unsafe path "{entry}" (absolute, ".." or a symlink).',
            )
        total += info.file_size
    if total > limits.max_total:
        raise UploadRejected(
            "archive_bomb",
            f"「{shown}」解压后共 {format_size(total)}，超过上限 {format_size(limits.max_total)}，"
            "可能是恶意压缩包。",
            f'"{shown}" would expand to {format_size(total)}, over the limit of '
            f"{format_size(limits.max_total)}.",
        )
    if total > _RATIO_FLOOR and total > limits.max_ratio * len(data):
        ratio = total // len(data)
        raise UploadRejected(
            "archive_bomb",
            f"「{shown}」的压缩比约为 {ratio}:1，超过上限 {limits.max_ratio}:1，可能是恶意压缩包。",
            f'"{shown}" has a compression ratio of about {ratio}:1, over the limit of '
            f"{limits.max_ratio}:1.",
        )
    return _classify_zip(info.filename for info in infos)


def _central_directory_entries(data: bytes) -> int:
    """An upper bound on the archive's entries, counted before zipfile builds one object each."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0:
        return 0  # zipfile reports the damage
    cd_size = int.from_bytes(data[eocd + 12 : eocd + 16], "little")
    # Zip64 records (76 bytes) may sit between the directory and the end record.
    start = 0 if cd_size == 0xFFFFFFFF else max(0, eocd - cd_size - 76)
    return data.count(b"PK\x01\x02", start, eocd)


def _too_many_entries(shown: str, count: int, limit: int) -> UploadRejected:
    return UploadRejected(
        "archive_bomb",
        f"「{shown}」包含约 {count} 个文件，超过上限 {limit} 个，可能是恶意压缩包。",
        f'"{shown}" holds about {count} entries, over the limit of {limit}.',
    )


def _unsafe_member(info: zipfile.ZipInfo) -> bool:
    path = info.filename.replace("\\", "/")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return True
    if ".." in path.split("/"):
        return True
    # Unix symlinks (S_IFLNK in the high word) point wherever an extractor lets them.
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _classify_zip(names: Iterable[str]) -> str:
    names = set(names)
    if "[Content_Types].xml" in names:
        for prefix, extension in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
            if any(name.startswith(prefix) for name in names):
                return extension
    if "OFD.xml" in names:  # GB/T 33190: the package's entry file at the root
        return "ofd"
    return "zip"


def _agreeing_extension(declared: str | None, detected: str, shown: str) -> str:
    """The extension to store: the declared one if it names the content, else the detected."""
    if declared is None:
        return detected
    canonical = _ALIASES.get(declared, declared)
    if canonical == detected or canonical in _SAME_FORMAT.get(detected, ()):
        return declared
    if _FAMILY.get(canonical) == _FAMILY[detected]:
        return detected
    zh, en = _NAMES[detected]
    raise UploadRejected(
        "type_mismatch",
        f"「{shown}」的扩展名是 .{declared}，但实际内容是 {zh}，两者不符。请确认文件后重新上传。",
        f'"{shown}" is named .{declared} but its content is a {en}.',
    )


def format_size(size: int) -> str:
    """A byte count for people: 512 B, 1.5 KB, 20 MB (binary units, one decimal at most)."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            tenths = (size * 10 + factor // 2) // factor
            whole, fraction = divmod(tenths, 10)
            return f"{whole}.{fraction} {unit}" if fraction else f"{whole} {unit}"
    return f"{size} B"
