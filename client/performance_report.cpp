#include "rsdat/performance_report.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>
#include <fmt/format.h>

#include "client/client_internal.hpp"
#include "core/task_stream_script.hpp"

namespace rsdat {

namespace {

using nlohmann::json;

// The page: its styles, then the data (JSON), then the shared task-stream script and
// this one, which draws every section from the data. Nothing is fetched.
constexpr const char* kReportHead = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>rsdat performance report</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em 1.5em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
svg text{font:11px system-ui,sans-serif}
.note{background:#fff4d6;border-left:4px solid #e0a000;padding:.4em .8em;margin:.4em 0}
.bar{display:inline-block;height:.8em;vertical-align:middle}
.how{color:#555;font-size:90%}
h2{margin-top:1.4em;border-bottom:1px solid #ccc}
</style></head><body>
<h1>rsdat performance report</h1><div id="meta"></div><div id="notes"></div>
<section id="summary"><h2>Summary</h2><div class="body"></div></section>
<section id="task-stream"><h2>Task stream</h2><div class="body"></div></section>
<section id="operations"><h2>Time per operation</h2><div class="body"></div></section>
<section id="critical-path"><h2>Critical path</h2><div class="body"></div></section>
<section id="scheduler"><h2>Scheduler overhead</h2><div class="body"></div></section>
)html";

constexpr const char* kReportScript = R"js(
const D=JSON.parse(document.getElementById('report-data').textContent);
const body=id=>document.querySelector('#'+id+' .body');
const S=D.summary;
document.getElementById('meta').textContent='Written '+D.written+' (period from '+D.started+'), scheduler '+D.scheduler;
document.getElementById('notes').innerHTML=D.notes.map(n=>'<p class="note">'+esc(n)+'</p>').join('');
const row=(k,v)=>'<tr><td>'+k+'</td><td>'+v+'</td></tr>';
body('summary').innerHTML='<table id="summary-table">'+row('wall time',secs(S.wall_seconds))+
  row('tasks run',S.tasks+(S.errors?' ('+S.errors+' failed)':''))+row('tasks submitted',S.tasks_submitted+' in '+S.graphs+' graphs')+
  row('workers',S.workers)+row('threads',S.threads)+
  row('bytes moved between workers',fmt(S.bytes_transferred)+' ('+S.transfers+' fetches)')+
  row('spilled to disk',fmt(S.spilled_bytes)+' in '+secs(S.spill_seconds))+row('read back from disk',fmt(S.unspilled_bytes)+' in '+secs(S.unspill_seconds))+'</table>';
if(D.events.length){
  const mark=new Set(D.critical_path.tasks.map(t=>t.event));
  const r=streamSvg({events:D.events,ops:D.ops,kinds:D.kinds,workers:D.workers,t0:0,t1:Math.max(S.wall_seconds,1e-3),mark:mark});
  body('task-stream').innerHTML='<p class="how">Each bar is one task on a worker thread, coloured by operation, from the start of the period (0 s). '+
    'A red mark is a fetch of inputs from other workers (its duration is not measured); orange bars are spilling and reading back.</p>'+r.legend+r.svg;
}else body('task-stream').innerHTML='<p>No task events.</p>';
{
  let h='<table id="ops-table"><thead><tr><th>operation</th><th>tasks</th><th>compute</th><th>mean</th><th>output</th><th>fetches</th><th>fetched</th><th>waiting for inputs</th><th></th></tr></thead><tbody>';
  let max=1e-9;for(const o of D.per_op)max=Math.max(max,o.compute_seconds,o.waiting_seconds);
  for(const o of D.per_op){
    h+='<tr class="op" data-op="'+esc(o.op)+'"><td><i class="bar" style="width:.9em;background:'+colour(o.op)+'"></i> '+esc(o.op)+'</td><td>'+o.tasks+(o.errors?' ('+o.errors+' failed)':'')+
      '</td><td>'+secs(o.compute_seconds)+'</td><td>'+(o.tasks?secs(o.compute_seconds/o.tasks):'')+'</td><td>'+fmt(o.output_bytes)+'</td><td>'+o.transfers+
      '</td><td>'+fmt(o.transfer_bytes)+'</td><td>'+(o.waiting_tasks?secs(o.waiting_seconds)+' over '+o.waiting_tasks+' tasks':'')+
      '</td><td><span class="bar" style="background:'+colour(o.op)+';width:'+(200*o.compute_seconds/max).toFixed(1)+'px"></span></td></tr>';
  }
  h+='<tr class="io"><td>spill to disk</td><td></td><td>'+secs(S.spill_seconds)+'</td><td></td><td>'+fmt(S.spilled_bytes)+'</td><td></td><td></td><td></td><td></td></tr>';
  h+='<tr class="io"><td>read back from disk</td><td></td><td>'+secs(S.unspill_seconds)+'</td><td></td><td>'+fmt(S.unspilled_bytes)+'</td><td></td><td></td><td></td><td></td></tr>';
  body('operations').innerHTML=h+'</tbody></table><p class="how">Compute: the kernels\' run time, summed over tasks. Fetches: inputs a task\'s worker '+
    'fetched from other workers, and their bytes. Waiting for inputs: for each task whose inputs ran in this period, the time from the end of its '+
    'last input to its own start: placement, the fetch of its inputs and the wait for a free thread together (tasks without inputs do not count).</p>';
}
{
  const cp=D.critical_path;
  let h='<p id="critical-summary">'+cp.tasks.length+' tasks, '+secs(cp.seconds)+' of computing, in a wall time of '+secs(S.wall_seconds)+
    (S.wall_seconds>0?' ('+(100*cp.seconds/S.wall_seconds).toFixed(0)+' %)':'')+'.</p>';
  h+='<p class="how">The longest chain of tasks each of which needed the one before, by the tasks\' measured durations: however many workers there are, '+
    'the computation cannot take less. It is outlined in the task stream.</p><table id="critical-table"><thead><tr><th>#</th><th>operation</th><th>chunk</th><th>worker</th><th>start</th><th>duration</th></tr></thead><tbody>';
  cp.tasks.forEach((t,i)=>{h+='<tr class="critical"><td>'+(i+1)+'</td><td>'+esc(t.op)+'</td><td>'+t.chunk+'</td><td>'+esc(t.worker)+'</td><td>'+secs(t.start)+'</td><td>'+secs(t.stop-t.start)+'</td></tr>'});
  body('critical-path').innerHTML=h+'</tbody></table>';
}
{
  const o=D.scheduler_overhead;
  body('scheduler').innerHTML='<table id="scheduler-table">'+row('event loop busy',secs(o.busy_seconds)+' ('+(100*o.busy_fraction).toFixed(1)+' % of the wall time)')+
    row('task transitions',o.transitions)+row('busy time per task',secs(o.busy_seconds_per_task))+row('transitions per task',o.transitions_per_task.toFixed(1))+
    '</table><p class="how">The scheduler\'s own time: its event loop handling messages and timers, over the period (all its clients\' work, not only this one\'s).</p>';
}
document.body.dataset.rendered='1';
)js";

constexpr uint8_t kCompute = 0, kError = 1, kTransfer = 2, kSpill = 3, kUnspill = 4;

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

// The longest chain of dependent tasks by measured duration. `compute` holds one
// event index per task (its last run); a task's inputs finished before it started, so
// taking tasks in order of their end gives every input's chain before its dependents'.
json critical_path(const std::vector<StreamEvent>& events, const std::unordered_map<TaskKey, size_t>& compute,
                   const GraphLog& log, const std::vector<std::string>& ops, const std::map<uint64_t, std::string>& names,
                   double t0) {
  std::vector<size_t> order;
  order.reserve(compute.size());
  for (const auto& [key, i] : compute) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return events[a].stop < events[b].stop; });
  std::unordered_map<size_t, std::pair<double, size_t>> best;  // event -> (chain seconds, previous event or npos)
  constexpr size_t kNone = std::numeric_limits<size_t>::max();
  std::vector<TaskKey> deps;
  size_t end = kNone;
  for (size_t i : order) {
    const StreamEvent& e = events[i];
    double chain = 0;
    size_t prev = kNone;
    if (log.deps(e.key, deps)) {
      for (const TaskKey& d : deps) {
        auto it = compute.find(d);
        if (it == compute.end()) continue;
        auto b = best.find(it->second);
        if (b != best.end() && b->second.first > chain) {
          chain = b->second.first;
          prev = it->second;
        }
      }
    }
    const double total = chain + (e.stop - e.start);
    best[i] = {total, prev};
    if (end == kNone || total > best[end].first) end = i;
  }
  json tasks = json::array();
  double seconds = 0;
  for (size_t i = end; i != kNone; i = best[i].second) {
    const StreamEvent& e = events[i];
    auto name = names.find(e.worker);
    tasks.push_back({{"event", i},
                     {"op", e.op < ops.size() ? ops[e.op] : "?"},
                     {"token", fmt::format("{:016x}", e.key.token)},
                     {"chunk", e.key.chunk},
                     {"worker", name != names.end() ? name->second : "worker " + std::to_string(e.worker)},
                     {"start", e.start - t0},
                     {"stop", e.stop - t0}});
  }
  if (end != kNone) seconds = best[end].first;
  std::reverse(tasks.begin(), tasks.end());
  return {{"seconds", seconds}, {"tasks", std::move(tasks)}};
}

}  // namespace

struct PerformanceReport::Impl {
  std::string filename;
  Client* client = nullptr;
  GraphLog log;
  StreamPage start;
  std::string started_text;
  bool closed = false;

  void unregister() {
    std::lock_guard lock(client->impl().mu);
    auto& logs = client->impl().graph_logs;
    logs.erase(std::remove(logs.begin(), logs.end(), &log), logs.end());
  }
  std::string build(const StreamPage& end, std::vector<StreamEvent> events, uint64_t lost);
};

PerformanceReport::PerformanceReport(std::string filename, Client* client) : impl_(std::make_unique<Impl>()) {
  if (filename.empty()) throw std::invalid_argument("performance report: the file name is empty");
  namespace fs = std::filesystem;
  fs::path dir = fs::path(filename).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::is_directory(dir, ec)) {
    throw std::invalid_argument("performance report " + filename + ": the directory " + dir.string() +
                                " does not exist");
  }
  impl_->filename = std::move(filename);
  impl_->client = client ? client : Client::current();
  if (!impl_->client) {
    throw std::invalid_argument("performance report: no rsdat::Client; create one before the report");
  }
  impl_->started_text = now_text();
  // Only the sequence number and counters: an empty page.
  impl_->start = impl_->client->impl().task_stream(std::numeric_limits<uint64_t>::max());
  std::lock_guard lock(impl_->client->impl().mu);
  impl_->client->impl().graph_logs.push_back(&impl_->log);
}

PerformanceReport::~PerformanceReport() {
  if (!impl_) return;
  try {
    close();
  } catch (const std::exception& e) {
    spdlog::error("performance report {} not written: {}", impl_->filename, e.what());
  }
}

PerformanceReport::PerformanceReport(PerformanceReport&&) noexcept = default;
PerformanceReport& PerformanceReport::operator=(PerformanceReport&& other) noexcept {
  if (this != &other) {
    if (impl_) {
      try {
        close();
      } catch (const std::exception& e) {
        spdlog::error("performance report {} not written: {}", impl_->filename, e.what());
      }
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

const std::string& PerformanceReport::filename() const { return impl_->filename; }

void PerformanceReport::close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  impl_->unregister();
  Client::Impl& c = impl_->client->impl();
  // Every event up to now, page by page; what the ring dropped before we asked is lost.
  uint64_t since = impl_->start.next, lost = 0;
  std::vector<StreamEvent> events;
  StreamPage page = c.task_stream(since);
  const uint64_t until = page.next;
  while (true) {
    if (page.first > since) lost += page.first - since;
    since = page.first + page.events.size();
    events.insert(events.end(), page.events.begin(), page.events.end());
    if (since >= until || page.events.empty()) break;
    StreamPage more = c.task_stream(since);
    more.clock = page.clock;  // the period ends at the first answer
    more.next = until;
    page = std::move(more);
  }
  const std::string html = impl_->build(page, std::move(events), lost);
  std::ofstream out(impl_->filename, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::runtime_error("cannot write performance report " + impl_->filename + ": " + std::strerror(errno));
  }
  out << html;
  out.close();
  if (!out) throw std::runtime_error("cannot write performance report " + impl_->filename + ": " + std::strerror(errno));
}

std::string PerformanceReport::Impl::build(const StreamPage& end, std::vector<StreamEvent> all, uint64_t lost) {
  const double t0 = start.clock, wall = std::max(0.0, end.clock - start.clock);
  std::map<uint64_t, std::string> names;
  std::map<uint64_t, uint32_t> threads;
  for (const StreamPage* p : {static_cast<const StreamPage*>(&start), &end}) {
    for (const auto& w : p->workers) {
      names[w.id] = w.name;
      threads[w.id] = w.nthreads;
    }
  }
  // This client's tasks, and the spills of the workers meanwhile (they have no task).
  std::vector<StreamEvent> events;
  uint64_t other = 0;
  for (StreamEvent& e : all) {
    if (e.kind == kSpill || e.kind == kUnspill || log.knows(e.key)) {
      events.push_back(e);
    } else {
      ++other;
    }
  }
  std::unordered_map<TaskKey, size_t> compute;  // the last run of each task
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == kCompute) compute[events[i].key] = i;
  }

  struct OpTime {
    uint64_t tasks = 0, errors = 0, bytes = 0, transfers = 0, transfer_bytes = 0, waited_tasks = 0;
    double compute = 0, waiting = 0;
  };
  std::map<std::string, OpTime> per_op;
  uint64_t tasks = 0, errors = 0, transfer_bytes = 0, transfers = 0, spill_bytes = 0, unspill_bytes = 0;
  double spill_seconds = 0, unspill_seconds = 0;
  std::map<uint64_t, bool> workers_used;
  std::vector<TaskKey> deps;
  for (size_t i = 0; i < events.size(); ++i) {
    const StreamEvent& e = events[i];
    workers_used[e.worker] = true;
    const std::string op = e.op < end.ops.size() ? end.ops[e.op] : "?";
    switch (e.kind) {
      case kCompute: {
        ++tasks;
        OpTime& o = per_op[op];
        ++o.tasks;
        o.compute += e.stop - e.start;
        o.bytes += e.bytes;
        // Waiting for inputs: from the end of its last input to its start.
        if (log.deps(e.key, deps) && !deps.empty()) {
          double ready = -1;
          for (const TaskKey& d : deps) {
            if (auto it = compute.find(d); it != compute.end()) ready = std::max(ready, events[it->second].stop);
          }
          if (ready >= 0) {
            o.waiting += std::max(0.0, e.start - ready);
            ++o.waited_tasks;
          }
        }
        break;
      }
      case kError:
        ++errors;
        ++per_op[op].errors;
        break;
      case kTransfer:
        ++transfers;
        transfer_bytes += e.bytes;
        ++per_op[op].transfers;
        per_op[op].transfer_bytes += e.bytes;
        break;
      case kSpill:
        spill_bytes += e.bytes;
        spill_seconds += e.stop - e.start;
        break;
      case kUnspill:
        unspill_bytes += e.bytes;
        unspill_seconds += e.stop - e.start;
        break;
      default:
        break;
    }
  }
  uint64_t nthreads = 0;
  json workers = json::array();
  for (const auto& [id, used] : workers_used) {
    if (!names.contains(id)) names[id] = "worker " + std::to_string(id);
  }
  for (const auto& [id, name] : names) {
    const uint32_t n = threads.contains(id) ? threads[id] : 1;
    nthreads += n;
    workers.push_back({{"id", id}, {"name", name}, {"nthreads", n}});
  }
  json ops = json::array();
  for (const auto& [name, o] : per_op) {
    ops.push_back({{"op", name},
                   {"tasks", o.tasks},
                   {"errors", o.errors},
                   {"compute_seconds", o.compute},
                   {"output_bytes", o.bytes},
                   {"transfers", o.transfers},
                   {"transfer_bytes", o.transfer_bytes},
                   {"waiting_seconds", o.waiting},
                   {"waiting_tasks", o.waited_tasks}});
  }
  json stream = json::array();
  for (const StreamEvent& e : events) {
    stream.push_back({e.worker, e.thread, e.kind, e.op, e.start - t0, e.stop - t0, e.bytes, e.key.chunk});
  }
  json notes = json::array();
  if (end.capacity == 0) {
    notes.push_back("The scheduler keeps no task stream (--task-stream-size 0): this report has no task events, "
                    "so no task stream, time per operation or critical path; the counters are still here.");
  } else if (lost > 0) {
    notes.push_back(fmt::format("{} task events of this period were lost: more happened than the scheduler's task "
                                "stream holds ({} events, --task-stream-size). The task stream, times per operation "
                                "and critical path cover the {} events that were kept.",
                                lost, end.capacity, all.size()));
  }
  if (other > 0) {
    notes.push_back(fmt::format("{} task events of other clients' computations in this period are left out.", other));
  }
  if (log.incomplete) {
    notes.push_back("The graphs had more listed dependencies than this report keeps: the critical path may be "
                    "shorter than the real one.");
  }
  const double busy = std::max(0.0, end.loop_busy_seconds - start.loop_busy_seconds);
  const uint64_t transitions = end.transitions >= start.transitions ? end.transitions - start.transitions : 0;
  json data = {
      {"title", filename},
      {"written", now_text()},
      {"started", started_text},
      {"scheduler", client->scheduler_address()},
      {"summary",
       {{"wall_seconds", wall},
        {"tasks", tasks},
        {"tasks_submitted", log.tasks},
        {"graphs", log.graphs},
        {"errors", errors},
        {"workers", workers.size()},
        {"threads", nthreads},
        {"bytes_transferred", end.bytes_transferred - start.bytes_transferred},
        {"transfer_bytes_of_tasks", transfer_bytes},
        {"transfers", transfers},
        {"spilled_bytes", spill_bytes},
        {"unspilled_bytes", unspill_bytes},
        {"spill_seconds", spill_seconds},
        {"unspill_seconds", unspill_seconds}}},
      {"task_stream",
       {{"capacity", end.capacity}, {"lost", lost}, {"events_kept", events.size()}}},
      {"scheduler_overhead",
       {{"busy_seconds", busy},
        {"transitions", transitions},
        {"busy_fraction", wall > 0 ? std::min(1.0, busy / wall) : 0.0},
        {"busy_seconds_per_task", tasks > 0 ? busy / static_cast<double>(tasks) : 0.0},
        {"transitions_per_task", tasks > 0 ? static_cast<double>(transitions) / static_cast<double>(tasks) : 0.0}}},
      {"notes", std::move(notes)},
      {"workers", std::move(workers)},
      {"ops", end.ops},
      {"kinds", {"compute", "error", "transfer", "spill", "unspill"}},
      {"per_op", std::move(ops)},
      {"events", std::move(stream)},
      {"critical_path", critical_path(events, compute, log, end.ops, names, t0)},
  };
  std::string text = data.dump(-1, ' ', false, json::error_handler_t::replace);
  // Inside <script>: "</" could end it early.
  for (size_t at = 0; (at = text.find("</", at)) != std::string::npos; at += 3) text.replace(at, 2, "<\\/");
  return std::string(kReportHead) + "<script id=\"report-data\" type=\"application/json\">" + text +
         "</script>\n<script>" + task_stream_script() + kReportScript + "</script></body></html>\n";
}

}  // namespace rsdat
