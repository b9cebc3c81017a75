"""Goroutines and threads: the scheduler's Ms and Ps, allgs, stack unwinding, frames.

``sched`` (allm, thread -> M -> goroutine), ``allgs`` (the goroutine table), ``unwind`` (the
pclntab unwinder with inlining and signal frames), ``framevars`` (names of stack slots),
``stackobjects`` (a frame's varp and stack objects), ``defers`` and ``panics`` (what each
goroutine will run and why it is unwinding; ``defers`` joins ``deferrecords``, ``opendefers``,
``closures`` and ``deferpools``), ``threads``.
"""
