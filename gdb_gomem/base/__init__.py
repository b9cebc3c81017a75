"""The base layer: errors every layer raises, and process-wide settings made once at import.

Everything else in gdb-gomem may import from here; this package imports nothing of it.
"""


def _no_numpy_hugepages() -> None:
    """Ask numpy not to madvise its large arrays into transparent huge pages.

    The whole-heap passes allocate and drop many arrays of tens to hundreds of MB; with huge
    pages each first touch zeroes 2 MB. Measured on the 1 GiB benchmark core, `gomem
    histogram` took 12.6 s with 3.2 s of system time without them, 13.7 s with 5.3 s with
    them (medians of 3 alternating runs). numpy reads its own switch (NUMPY_MADVISE_HUGEPAGE) only
    at import, so the setting is made through numpy's function when it exists.
    """
    try:
        from numpy._core import multiarray  # numpy 2
    except ImportError:
        try:
            from numpy.core import multiarray  # type: ignore[no-redef]  # numpy 1
        except ImportError:
            return
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)


_no_numpy_hugepages()
