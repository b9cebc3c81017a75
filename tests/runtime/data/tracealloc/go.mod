module tracealloc

go 1.25
