#!/usr/bin/env python3
"""Writes a smaller copy of the ICU data that Foundation links in, for the traveling kiln.

    scripts/trim-icu-data.py IN.dat OUT.dat

IN is ICU's common data package (the `icudtNNl` blob of the toolchain's lib_FoundationICU.a, about 34 MB).
OUT keeps every item except the locale bundles other than root and English (en, en_US, en_US_POSIX, en_001),
the word-break dictionaries (Chinese, Japanese, Thai, Khmer, Lao, Burmese), the legacy charset converters
(EBCDIC, Shift-JIS, GB18030 and the like: Kiln reads and writes UTF-8 only) and the transliterators: parts
that ICU's own data filter lets a build leave out. ICU falls back to root for a locale it does not find, so
Kiln's few uses of Foundation's formatting (POSIX dates, English unit names) read as before.
"""

import re
import struct
import sys

# A locale bundle is named after its locale: a language code, then "_" and script, region or variant (or an
# alias like "de_" or "de__PHONEBOOK").
LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]*)*$")
KEPT_LOCALES = {"root", "en", "en_US", "en_US_POSIX", "en_001", "res_index"}
ALIGNMENT = 16


def read(data):
    """The package's header and its items as (name, bytes), in the table's (sorted) order."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", data, 0)
    if (magic1, magic2) != (0xDA, 0x27) or data[12:16] != b"CmnD":
        sys.exit("error: not an ICU common data package (CmnD)")
    count, = struct.unpack_from("<I", data, header_size)
    entries = [struct.unpack_from("<II", data, header_size + 4 + 8 * i) for i in range(count)]
    ends = [offset for _, offset in entries[1:]] + [len(data) - header_size]
    items = []
    for (name_offset, data_offset), end in zip(entries, ends):
        name_end = data.index(b"\0", header_size + name_offset)
        name = data[header_size + name_offset : name_end].decode("ascii")
        items.append((name, data[header_size + data_offset : header_size + end]))
    return data[:header_size], items


def is_kept(name):
    stem, _, extension = name.rsplit("/", 1)[-1].rpartition(".")
    if extension == "res" and LOCALE.match(stem) and stem not in KEPT_LOCALES:
        return False
    # Word-break dictionaries, legacy charset converters (Kiln reads and writes UTF-8 only), transliterators.
    return extension not in ("dict", "cnv") and "/translit/" not in name


def write(header, items):
    """The package with these items: the table, the names, then each item on a 16-byte boundary."""
    table_size = 4 + 8 * len(items)
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in items)
    offset = table_size + len(names)
    offset += -(len(header) + offset) % ALIGNMENT
    table = [struct.pack("<I", len(items))]
    name_offset = table_size
    body = []
    for name, item in items:
        table.append(struct.pack("<II", name_offset, offset))
        name_offset += len(name) + 1
        padded = item + b"\xaa" * (-len(item) % ALIGNMENT)
        body.append(padded)
        offset += len(padded)
    names += b"\xaa" * (-(len(header) + table_size + len(names)) % ALIGNMENT)
    return header + b"".join(table) + names + b"".join(body)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, target = sys.argv[1:]
    with open(source, "rb") as file:
        header, items = read(file.read())
    kept = [(name, item) for name, item in items if is_kept(name)]
    if not any(name.endswith("/root.res") for name, _ in kept):
        sys.exit("error: the ICU data has no root locale; its layout is not the one this script knows")
    packed = write(header, kept)
    with open(target, "wb") as file:
        file.write(packed)
    before = sum(len(item) for _, item in items)
    print(f"ICU data: {len(items)} items, {before / 1e6:.1f} MB -> {len(kept)} items, {len(packed) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
