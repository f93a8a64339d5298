"""EBPC feature-map codec in hardware, bit-exact with :mod:`golden.ebpc` (stream-ebpc's format).

:class:`~hdl.ebpc.encoder.EbpcEncoder`: values in, the ZNZ and BPC streams out.
:class:`~hdl.ebpc.decoder.EbpcDecoder`: a count and the two streams in, values out, errors on
a status port.
"""
