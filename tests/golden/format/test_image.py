"""golden/format/image.py: the memory image's layout (header, table, chunk index, payload), and
random access: every chunk range streams as a tensor of its own that decodes to its values."""

import ml_dtypes
import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks
from golden.format.image import (HEADER_WORDS, IMAGE_MAGIC, LAST_BIT, ImageError, MemoryImage,
                                 chunk_index, parse_header, range_words)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(5003) * 0.03).astype(ml_dtypes.bfloat16).view(np.uint16)
    return x, MemoryImage.compress(x, [codebooks.get("bf16-exp")], max_table_log=9,
                                   chunk_pairs=500)


def test_layout(image):
    x, img = image
    words = img.words
    head = parse_header(words)
    assert head == {"magic": IMAGE_MAGIC, "table_words": 1 + 512, "chunks": 11, "values": 5003,
                    "chunk_pairs": 500, "table_offset": HEADER_WORDS,
                    "index_offset": HEADER_WORDS + 513, "payload_offset": HEADER_WORDS + 513 + 12}
    assert (words[8:8 + 513] == img.table.image()).all()
    index = words[head["index_offset"]:head["payload_offset"]]
    assert index[0] == 0 and index[-1] == len(img.payload) and (np.diff(index) > 3).all()
    assert (words[head["payload_offset"]:] == img.payload).all()
    assert img.to_bytes() == words.astype("<u4").tobytes()
    assert (chunk_index(img.payload, 9) == index).all()


def test_every_range_decodes_to_its_values(image):
    x, img = image
    for first in range(img.chunks):
        for count in {1, 2, img.chunks - first}:
            if first + count > img.chunks:
                continue
            lo, hi = img.value_range(first, count)
            words = img.stream(first, count)
            assert (codec.decompress_values(img.table, words, hi - lo) == x[lo:hi]).all()
            # only the last header's `last` bit differs from the payload's words
            start = img.index[first]
            diff = np.flatnonzero(words != img.payload[start:start + len(words)])
            last_head = img.index[first + count - 1] - start
            assert list(diff) == ([] if first + count == img.chunks else [last_head])
            assert words[last_head] >> LAST_BIT & 1


def test_bad_ranges_and_images_are_refused(image):
    x, img = image
    with pytest.raises(ImageError, match="outside the tensor's 11 chunks"):
        img.stream(10, 2)
    with pytest.raises(ImageError, match="outside"):
        img.stream(0, 0)
    with pytest.raises(ImageError, match="does not start at word"):
        range_words(img.payload, img.index + 1, 0, 1)
    with pytest.raises(ImageError, match="not a memory image"):
        parse_header(np.zeros(8, np.uint32))
    with pytest.raises(ImageError, match="payload holds 5003 values, not 5000"):
        MemoryImage.build(img.table, img.payload, 5000)
    with pytest.raises(ImageError, match="payload: chunk 0: CRC mismatch"):
        bad = img.payload.copy()
        bad[5] ^= 1
        chunk_index(bad, 9)
    d = img.descriptor(0x1000, 2, 3, table=False)
    assert d == {"table_addr": 0x1000 + 32, "table_words": 0,
                 "index_addr": 0x1000 + 4 * (HEADER_WORDS + 513),
                 "payload_addr": 0x1000 + 4 * (HEADER_WORDS + 513 + 12),
                 "first_chunk": 2, "chunk_count": 3}
