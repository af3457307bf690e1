"""The scan: one batch as a value (:mod:`.pipeline`), one unit read and scanned (:mod:`.units`), and
the executors that run units: here or on local processes (:mod:`.local`), on Dask (:mod:`.dask`)."""
