"""The feature-map bench's codec sizes and the EBPC paper's quantisation, on small maps."""

import math

import numpy as np

from golden import bench_maps, data, ebpc


def test_map_sizes_follow_their_definitions():
    v = np.array([0] * 20 + [5, 0, 7], np.uint8)
    sizes = bench_maps.map_sizes(v)
    assert sizes["ZVC"] == math.ceil((23 + 2 * 8) / 8)
    # runs of 20 (two symbols: 16 + 4) and 1 zeros, two non-zero values
    assert sizes["zero-RLE"] == math.ceil((3 * 5 + 2 * 9) / 8)
    assert sizes["EBPC"] == sum(ebpc.sizes(v.view(np.int8)))
    p = np.array([21, 1, 1]) / 23
    assert math.isclose(sizes["bound"], -(p * np.log2(p)).sum() * 23 / 8)
    assert sizes["ours"] is None


def test_nhwc_puts_a_pixels_channels_together():
    m = np.arange(2 * 3 * 4).reshape(2, 3, 4)          # C, H, W
    nhwc = bench_maps._ordered(m, "NHWC")
    assert nhwc[:2].tolist() == [m[0, 0, 0], m[1, 0, 0]]
    assert bench_maps._ordered(m, "NCHW").tolist() == list(range(24))


def test_quantisation_is_the_papers():
    x = np.array([0.0, 0.1, 1.0, 2.0, 3.999, 4.0], np.float32)
    q = data.quantize_maps(x)
    # times 0.75 / max, times 127, truncated: 4.0 -> 95, 2.0 -> 47 (47.625)
    assert q.tolist() == [0, 2, 23, 47, 95, 95]
    assert data.quantize_maps(np.zeros(3, np.float32)).tolist() == [0, 0, 0]


def test_layer_names():
    outs = ["functional_1/block1_conv1_1/Relu:0", "functional_1/block5_conv3_1/Relu:0",
            "functional_1/dense_1/Relu:0", "functional_1/dense_1_2/Relu:0"]
    assert data._layer_names(outs) == ["block1_conv1", "block5_conv3", "fc1", "fc2"]
