"""Record pprof profiles from a live Go target into files, one per sample and kind.

The recorded series is what the CLI reads and what tests/corpus holds. Every sample is one
`<stamp>.<kind>.<ext>` file in the destination directory:

    <stamp>.goroutine.pb.gz     <path>/goroutine?debug=0 (gzipped profile.proto)
    <stamp>.goroutine.txt       <path>/goroutine?debug=1 (with text=True, instead of the above)
    <stamp>.heap.pb.gz          <path>/heap?debug=0 (post-GC inuse and alloc)
    final.goroutineleak.txt     <path>/goroutineleak?debug=1, once (fetch_final_goroutineleak)
    recording.json              when it began, the process start if the target said it, what is missing

`<path>` is `/debug/pprof` unless told otherwise. `<stamp>` is unix seconds: the wall clock, or
`stamp_start + i * stamp_step` for a time-dilated target (one second of real time standing for one
minute of program time).

The first sample must arrive whole (else the error is raised: a wrong URL, path or token would
otherwise cost a whole recording of nothing); after it, a fetch that fails is recorded as missing
in `recording.json` and the recording goes on. Responses are streamed with a byte cap, so a
misbehaving target cannot make us buffer without bound; a file appears only once it is complete
(written aside, then renamed).

series.py    the recording loop (record_series): the grid, the first sample, stopping
fetching.py  one profile into a file, the process start, the final goroutineleak; the client
files.py     the files written: sample names, recording.json (Recording), atomic writes
"""

from leakpatrol.record.fetching import (
    DEFAULT_PATH,
    fetch_final_goroutineleak,
    read_process_start,
    save_profile,
)
from leakpatrol.record.files import (
    DEFAULT_MAX_BYTES,
    RECORDING_JSON,
    Missing,
    Recording,
    SampleResult,
    sample_filename,
)
from leakpatrol.record.series import record_series

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PATH",
    "RECORDING_JSON",
    "Missing",
    "Recording",
    "SampleResult",
    "fetch_final_goroutineleak",
    "read_process_start",
    "record_series",
    "sample_filename",
    "save_profile",
]
