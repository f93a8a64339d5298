"""What the golden model, the gateware and the test benches share: bit layouts
(declared in :mod:`~golden.format.fields`, as Amaranth structs in :mod:`~golden.format.layouts`),
code books (:mod:`~golden.format.codebooks`) and the ``.ansn``
container (:mod:`~golden.format.container`). docs/format.md specifies all three."""
