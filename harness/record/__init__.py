"""The typed, versioned run record (``schema``) and the one module that reads and
writes a run directory (``rundir``)."""
