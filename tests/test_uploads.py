"""Evidence uploads: types come from the content, names are made safe, archives are bounded,
and blobs are stored once by content."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from taskhub.core.s3storage import S3Storage
from taskhub.core.storage import LocalStorage, Storage, storage_for
from taskhub.tracking.uploads import ALLOWED, UploadRejected, check_upload, format_size
from tests.s3 import ONCE, S3Server

MB = 1024 * 1024

# -- real small files --------------------------------------------------------------------------


def make_pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_png() -> bytes:
    """A 1×1 white RGB PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def make_gif() -> bytes:
    """A 1×1 GIF89a."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def make_zip(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buf.getvalue()


_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="{part}" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument"/></Relationships>'
)
_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{content_type}"/></Types>'
)


def make_docx() -> bytes:
    part = "word/document.xml"
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return make_zip(
        {
            "[Content_Types].xml": _TYPES.format(part=part, content_type=main),
            "_rels/.rels": _RELS.format(part=part),
            part: '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
            'main"><w:body><w:p><w:r><w:t>工作进展</w:t></w:r></w:p></w:body></w:document>',
        }
    )


def make_pptx() -> bytes:
    part = "ppt/presentation.xml"
    main = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
    return make_zip(
        {
            "[Content_Types].xml": _TYPES.format(part=part, content_type=main),
            "_rels/.rels": _RELS.format(part=part),
            part: '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/'
            '2006/main"/>',
        }
    )


def make_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["序号", "重点任务", "完成状态"])
    sheet.append([1, "政务服务一网通办", "推进中"])
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()


def make_ofd() -> bytes:
    return make_zip(
        {
            "OFD.xml": '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0">'
            "<ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
            "Doc_0/Document.xml": '<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"/>',
        }
    )


def make_ole2(streams: dict[str, bytes]) -> bytes:
    """A compound file (CFB v3, 512-byte sectors) holding the given root streams.

    Each stream is padded to 4096 bytes so it lives in regular sectors (no mini stream).
    This is the container of Word 97-2003 .doc, .xls and .ppt files, and of WPS's wps/et/dps.
    """
    free, end, fat_sect, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    # Siblings are ordered by name length, then upper-case name.
    names = sorted(streams, key=lambda n: (len(n), n.upper()))
    bodies = [streams[n].ljust(4096, b"\x00") for n in names]
    fat = [fat_sect, end]  # sector 0 holds the FAT, sector 1 the directory
    starts = []
    for body in bodies:
        count = len(body) // 512
        first = len(fat)
        starts.append(first)
        fat.extend(range(first + 1, first + count))
        fat.append(end)
    assert len(fat) <= 128
    fat_sector = struct.pack("<128I", *(fat + [free] * (128 - len(fat))))

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\x00\x00" if name else b""
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)  # black node
            + struct.pack("<III", no_stream, right, child)
            + bytes(16 + 4 + 16)  # CLSID, state bits, times
            + struct.pack("<IQ", start, size)
        )

    entries = [entry("Root Entry", 5, no_stream, 1 if names else no_stream, end, 0)]
    for index, (name, body) in enumerate(zip(names, bodies, strict=True)):
        right = index + 2 if index + 1 < len(names) else no_stream
        entries.append(entry(name, 2, right, no_stream, starts[index], len(body)))
    while len(entries) % 4:
        entries.append(entry("", 0, no_stream, no_stream, 0, 0))
    assert len(entries) == 4, "one directory sector is enough for these tests"

    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<109I", 0, *([free] * 108))
    )
    assert len(header) == 512
    return header + fat_sector + b"".join(entries) + b"".join(bodies)


WORD_97 = {"WordDocument": b"\xec\xa5\xc1\x00", "1Table": b"\x00"}
EXCEL_97 = {"Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00"}
POWERPOINT_97 = {"PowerPoint Document": b"\x0f\x00\xe8\x03", "Current User": b"\x00"}

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(50) + b"PE\x00\x00" + bytes(64)
HTML_AS_XLS = "<html><body><table><tr><td>序号</td></tr></table></body></html>".encode()
RAR = b"Rar!\x1a\x07\x01\x00" + bytes(64)
SEVEN_Z = b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64)


# -- accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "make", "safe_name", "content_type"),
    [
        ("工作进展报告.pdf", make_pdf, "工作进展报告.pdf", "application/pdf"),
        ("截图.png", make_png, "截图.png", "image/png"),
        ("签到表.gif", make_gif, "签到表.gif", "image/gif"),
        ("会议纪要.docx", make_docx, "会议纪要.docx", ALLOWED["docx"]),
        ("任务台账.xlsx", make_xlsx, "任务台账.xlsx", ALLOWED["xlsx"]),
        ("工作汇报.pptx", make_pptx, "工作汇报.pptx", ALLOWED["pptx"]),
        ("通知.ofd", make_ofd, "通知.ofd", "application/ofd"),
        ("佐证材料.zip", lambda: make_zip({"a.txt": "进展"}), "佐证材料.zip", "application/zip"),
        ("佐证材料.rar", lambda: RAR, "佐证材料.rar", "application/vnd.rar"),
        ("佐证材料.7z", lambda: SEVEN_Z, "佐证材料.7z", "application/x-7z-compressed"),
        ("通知.doc", lambda: make_ole2(WORD_97), "通知.doc", "application/msword"),
        ("通知.wps", lambda: make_ole2(WORD_97), "通知.wps", "application/msword"),
        ("统计表.xls", lambda: make_ole2(EXCEL_97), "统计表.xls", "application/vnd.ms-excel"),
        ("统计表.et", lambda: make_ole2(EXCEL_97), "统计表.et", "application/vnd.ms-excel"),
        ("汇报.ppt", lambda: make_ole2(POWERPOINT_97), "汇报.ppt", ALLOWED["ppt"]),
        # A wrong extension within the same family is corrected to the content's.
        ("现场照片.jpg", make_png, "现场照片.png", "image/png"),
        ("台账.xls", make_xlsx, "台账.xlsx", ALLOWED["xlsx"]),
        ("通知.docx", lambda: make_ole2(WORD_97), "通知.doc", "application/msword"),
        # Upper-case and alternative spellings.
        ("报告.PDF", make_pdf, "报告.pdf", "application/pdf"),
        # No extension, or a suffix that is not one: the detected extension is added.
        ("照片", make_png, "照片.png", "image/png"),
        ("实施方案v2.1", make_pdf, "实施方案v2.1.pdf", "application/pdf"),
        ("通知（2024.5.1）", make_pdf, "通知（2024.5.1）.pdf", "application/pdf"),
    ],
)
def test_accepted_types_are_detected_from_content(
    filename: str, make: Callable[[], bytes], safe_name: str, content_type: str
) -> None:
    data = make()
    checked = check_upload(filename, data, max_bytes=10 * MB)
    assert (checked.safe_name, checked.content_type, checked.size) == (
        safe_name,
        content_type,
        len(data),
    )


def test_ole2_with_embedded_streams_follows_the_declared_kind() -> None:
    both = make_ole2({**EXCEL_97, **WORD_97})
    assert check_upload("表.xls", both, max_bytes=MB).safe_name == "表.xls"
    assert check_upload("文.doc", both, max_bytes=MB).safe_name == "文.doc"


# -- rejected ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "make", "code"),
    [
        ("setup.pdf", lambda: EXE, "type_not_allowed"),
        ("报表.xls", lambda: HTML_AS_XLS, "type_not_allowed"),  # HTML "exports" are not Excel
        ("说明.txt", lambda: "纯文本".encode(), "type_not_allowed"),
        ("logo.svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "type_not_allowed"),
        ("安装包.doc", lambda: make_ole2({"SummaryInformation": b"\x00"}), "type_not_allowed"),
        ("report.pdf", make_png, "type_mismatch"),
        ("材料.docx", lambda: make_zip({"a.txt": "x"}), "type_mismatch"),  # plain zip ≠ Word
        ("会议纪要.zip", make_docx, "type_mismatch"),
        ("统计表.doc", lambda: make_ole2(EXCEL_97), "type_mismatch"),
        ("截图.exe", make_png, "type_mismatch"),
        ("坏文件.zip", lambda: b"PK\x03\x04" + bytes(100), "corrupt"),
        ("半截.docx", lambda: make_docx()[:300], "corrupt"),
    ],
)
def test_rejected_types(filename: str, make: Callable[[], bytes], code: str) -> None:
    with pytest.raises(UploadRejected) as caught:
        check_upload(filename, make(), max_bytes=10 * MB)
    assert caught.value.code == code
    assert caught.value.message_zh and caught.value.message_en


def test_mismatch_message_names_the_file_and_both_types() -> None:
    with pytest.raises(UploadRejected) as caught:
        check_upload("report.pdf", make_png(), max_bytes=MB)
    assert "report.pdf" in caught.value.message_zh
    assert ".pdf" in caught.value.message_zh and "PNG 图片" in caught.value.message_zh


def test_password_protected_office_file_is_refused_with_a_reason() -> None:
    encrypted = make_ole2({"EncryptionInfo": b"\x04\x00", "EncryptedPackage": b"\x00"})
    with pytest.raises(UploadRejected) as caught:
        check_upload("台账.xlsx", encrypted, max_bytes=MB)
    assert caught.value.code == "type_not_allowed"
    assert "密码" in caught.value.message_zh


def test_empty_file() -> None:
    with pytest.raises(UploadRejected) as caught:
        check_upload("空白.pdf", b"", max_bytes=MB)
    assert caught.value.code == "empty"
    assert "空白.pdf" in caught.value.message_zh


def test_too_large_names_the_limit() -> None:
    data = make_pdf() + bytes(MB)
    with pytest.raises(UploadRejected) as caught:
        check_upload("扫描件.pdf", data, max_bytes=MB)
    assert caught.value.code == "too_large"
    assert "扫描件.pdf" in caught.value.message_zh
    assert "上限 1 MB" in caught.value.message_zh
    assert check_upload("扫描件.pdf", data, max_bytes=len(data)).size == len(data)


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "safe_name"),
    [
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\张三\\Desktop\\a.pdf", "a.pdf"),
        ("/var/www/../报告.pdf", "报告.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("a\x00b\r\n.pdf", "ab.pdf"),
        ("  关于  印发 方案的通知 .pdf ", "关于 印发 方案的通知.pdf"),
        ("a<b>:c|d?.pdf", "a_b__c_d_.pdf"),
        ("CON.pdf", "_CON.pdf"),
        # U+202E would display "报告\u202efdp.exe" as "报告exe.pdf".
        ("报告\u202efdp.pdf", "报告fdp.pdf"),
    ],
)
def test_names_are_reduced_to_safe_basenames(filename: str, safe_name: str) -> None:
    assert check_upload(filename, make_pdf(), max_bytes=MB).safe_name == safe_name


def test_long_names_are_cut_keeping_the_extension() -> None:
    checked = check_upload("数" * 300 + ".pdf", make_pdf(), max_bytes=MB)
    assert len(checked.safe_name) == 200
    assert checked.safe_name.endswith("数.pdf")


@pytest.mark.parametrize("filename", ["", "...", "../", "..\\..\\", " . ", "/", "\x00\x01"])
def test_names_with_nothing_left_are_bad(filename: str) -> None:
    with pytest.raises(UploadRejected) as caught:
        check_upload(filename, make_pdf(), max_bytes=MB)
    assert caught.value.code == "bad_name"


# -- archives ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """50 MB of zeros deflated to about 50 KB, written in chunks to stay small in memory."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w") as member,
    ):
        chunk = bytes(MB)
        for _ in range(50):
            member.write(chunk)
    return buf.getvalue()


def test_zip_bomb_is_refused_without_extracting(zip_bomb: bytes) -> None:
    assert len(zip_bomb) < MB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UploadRejected) as caught:
            check_upload("材料.zip", zip_bomb, max_bytes=10 * MB)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "archive_bomb"
    assert "100:1" in caught.value.message_zh
    assert elapsed < 0.5
    assert peak < MB  # decompressing would need 50 MB


def test_archive_total_and_entry_limits() -> None:
    data = make_zip({f"{i}.txt": os.urandom(600) for i in range(6)})
    assert check_upload("a.zip", data, max_bytes=MB).content_type == "application/zip"
    for limits in ({"max_archive_total": 3000}, {"max_archive_entries": 5}):
        with pytest.raises(UploadRejected) as caught:
            check_upload("a.zip", data, max_bytes=MB, **limits)
        assert caught.value.code == "archive_bomb"


def test_office_files_are_inspected_like_archives() -> None:
    with pytest.raises(UploadRejected) as caught:
        check_upload("纪要.docx", make_docx(), max_bytes=MB, max_archive_entries=2)
    assert caught.value.code == "archive_bomb"


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_zip({"../evil.txt": "x"}),
        lambda: make_zip({"docs/../../evil.txt": "x"}),
        lambda: make_zip({"..\\evil.txt": "x"}),
        lambda: make_zip({"/etc/cron.d/evil": "x"}),
        lambda: make_zip({"C:/Windows/evil.dll": "x"}),
        _symlink_zip,
    ],
)
def test_unsafe_archive_paths(make: Callable[[], bytes]) -> None:
    with pytest.raises(UploadRejected) as caught:
        check_upload("材料.zip", make(), max_bytes=MB)
    assert caught.value.code == "archive_unsafe"


def test_format_size() -> None:
    assert [format_size(n) for n in (0, 512, 1536, 20 * MB, 500 * MB, 3 * 1024 * MB)] == [
        "0 B",
        "512 B",
        "1.5 KB",
        "20 MB",
        "500 MB",
        "3 GB",
    ]


# -- storage: the same tests for the file backend and the object store --------------------


def blob_names(storage: Storage) -> list[str]:
    return [entry.name for entry in storage.scan() if entry.kind == "blob"]


def plant(storage: Storage, sha: str, data: bytes) -> None:
    """Put ``data`` under the digest ``sha`` behind the store's back (a stand-in)."""
    if isinstance(storage, LocalStorage):
        target = storage.root / sha[:2] / sha[2:4] / sha
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
    else:
        assert isinstance(storage, S3Storage)
        storage.client.put_object(Bucket=storage.bucket, Key=storage._key(sha), Body=data)


def test_storage_stores_identical_bytes_once(any_storage: Storage) -> None:
    data = make_pdf()
    sha = any_storage.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert any_storage.put(data) == sha
    assert blob_names(any_storage) == [sha]
    assert any_storage.exists(sha)
    with any_storage.open(sha) as fh:
        assert fh.read() == data
    [entry] = any_storage.scan()
    assert entry.size == len(data) and entry.where.endswith(f"/{sha[:2]}/{sha[2:4]}/{sha}")


def test_storage_never_overwrites_an_existing_blob(any_storage: Storage) -> None:
    data = make_png()
    sha = hashlib.sha256(data).hexdigest()
    # Whatever already sits under a digest stays as it is (here a planted stand-in).
    plant(any_storage, sha, b"already here")
    assert any_storage.put(data) == sha
    with any_storage.open(sha) as fh:
        assert fh.read() == b"already here"
    assert blob_names(any_storage) == [sha]


def test_storage_lists_and_deletes_blobs(any_storage: Storage) -> None:
    first, second = any_storage.put(b"first file"), any_storage.put(b"the second file")
    assert blob_names(any_storage) == sorted([first, second])
    assert any_storage.delete(first) == len(b"first file")
    assert any_storage.delete(first) == 0  # gone already
    assert blob_names(any_storage) == [second]
    assert not any_storage.exists(first) and any_storage.exists(second)


def test_storing_a_blob_again_makes_it_young(any_storage: Storage) -> None:
    """Reuse refreshes the time the collector judges age by (`taskhub evidence gc`)."""
    sha = any_storage.put(b"used twice")
    before = any_storage.mtime(sha)
    assert before is not None and abs(before - time.time()) < 60
    if isinstance(any_storage, LocalStorage):
        path = any_storage.path_of(sha)
        os.utime(path, (before - 3600, before - 3600))
        before -= 3600
    else:
        time.sleep(1.1)  # object stores keep whole seconds
    any_storage.put(b"used twice")
    after = any_storage.mtime(sha)
    assert after is not None and after > before
    with any_storage.open(sha) as fh:
        assert fh.read() == b"used twice"


def test_stored_blobs_are_read_only(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    sha = storage.put(b"evidence")
    assert not storage.path_of(sha).stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "a" * 63 + "/",
        "a" * 64 + "\n",
        "../" + "a" * 61,
        "",
    ],
)
def test_storage_rejects_malformed_digests(any_storage: Storage, bad: str) -> None:
    calls = (any_storage.open, any_storage.exists, any_storage.path_of, any_storage.delete)
    for call in (*calls, any_storage.mtime):
        with pytest.raises(ValueError):
            call(bad)


def test_storage_missing_blob(any_storage: Storage) -> None:
    sha = hashlib.sha256(b"nothing").hexdigest()
    assert not any_storage.exists(sha)
    assert any_storage.mtime(sha) is None
    assert any_storage.delete(sha) == 0
    assert blob_names(any_storage) == []
    with pytest.raises(FileNotFoundError):
        any_storage.open(sha)
    if isinstance(any_storage, LocalStorage):
        with pytest.raises(FileNotFoundError):
            any_storage.path_of(sha)
    else:
        assert any_storage.path_of(sha) is None  # no local files: streamed instead


def test_storage_for_reads_the_configured_path(tmp_path: Path) -> None:
    storage = storage_for({"EVIDENCE_PATH": str(tmp_path / "evidence")})
    sha = storage.put(b"abc")
    assert (tmp_path / "evidence" / sha[:2] / sha[2:4] / sha).read_bytes() == b"abc"
    with pytest.raises(RuntimeError):
        storage_for({})


@ONCE
def test_storage_for_an_s3_url_keeps_blobs_under_its_prefix(s3_server: S3Server) -> None:
    config = s3_server.new_bucket(prefix="city/evidence")
    storage = storage_for({**config, "EVIDENCE_PATH": "/nonexistent"})
    assert isinstance(storage, S3Storage)
    assert storage.location == config["EVIDENCE_URL"]
    sha = storage.put(b"abc")
    # The same layout as a folder: a bucket synced to disk is a valid local store.
    assert s3_server.objects(config) == {f"city/evidence/{sha[:2]}/{sha[2:4]}/{sha}": b"abc"}
    # Objects outside the layout (someone else's) are neither listed nor touched.
    storage.client.put_object(Bucket=storage.bucket, Key="city/evidence/README", Body=b"x")
    assert blob_names(storage) == [sha]
