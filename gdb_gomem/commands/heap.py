"""Commands: mheap, spans, span, mcentral, mcache, spanlists, memstats."""
