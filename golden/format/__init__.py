"""What the golden model, the gateware and the test benches share: bit layouts
(:mod:`~golden.format.layouts`), code books (:mod:`~golden.format.codebooks`) and the ``.ansn``
container (:mod:`~golden.format.container`). docs/format.md specifies all three."""
