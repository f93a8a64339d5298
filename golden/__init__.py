"""The bit-exact reference of ansnum and its command-line tool.

``golden.format`` holds what golden and gateware share (layouts, code books, the container),
``golden.ans`` the ANS codec, ``golden.fixed`` the fixed-point conversions the hardware's
converters match, ``golden.data`` the real data the benches use, ``golden.cli`` the ``ansnum``
command and ``golden.bench`` the ``make bench`` report.
"""
