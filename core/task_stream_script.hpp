// The script that draws a task stream: tasks per worker thread over time, coloured by
// operation, with transfers, spills and errors marked. The scheduler's dashboard draws
// its live view with it and a client's performance report its saved one, so the two
// read the same; it lives here because both link core and neither links the other.
//
// It defines, for a page's own script to call (plain ES2017, no libraries):
//   fmt(bytes), esc(text), secs(seconds), colour(opName)   formatting helpers
//   streamSvg(d) -> {svg, legend, n}                        the timeline as SVG text
// where d = {events, ops, kinds, workers, t0, t1, width, mark}: each event is
// [worker id, thread, kind, op index, start, stop, bytes, chunk], times in seconds on
// any common clock, drawn from t0 to t1; workers are {id, name, nthreads}; `mark`
// (optional) is a set of event indexes drawn outlined (a report's critical path).
#pragma once

namespace rsdat {

const char* task_stream_script();

}  // namespace rsdat
