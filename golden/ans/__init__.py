"""The ANS codec: tANS tables and chunk kernels (:mod:`~golden.ans.tans`), coding pairs into
payloads and back (:mod:`~golden.ans.codec`), tables rebuilt from a window's statistics
(:mod:`~golden.ans.adaptive`)."""
