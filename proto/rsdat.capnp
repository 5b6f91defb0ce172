@0xc3f1a2b4d5e6f708;
# rsdat wire protocol: every message between client, scheduler and worker.
#
# A message on the wire is ZeroMQ multipart: [routing frames] header payload*.
# The header is one Cap'n Proto `Envelope`; chunk bytes follow as raw frames, in the
# order the header lists them. Nothing here carries chunk bytes.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("rsdat::wire");

const protocolVersion :UInt32 = 1;

enum Role { client @0; worker @1; peer @2; }

enum ErrorCode {
  invalidArgument @0; notFound @1; io @2; outOfMemory @3; timedOut @4;
  unavailable @5; cancelled @6; protocol @7; taskError @8; internal @9;
}

# The name of one chunk result: the array's token and the chunk's linear index
# in that array's chunk grid.
struct Key { token @0 :UInt64; chunk @1 :UInt64; }

enum DType { bool @0; int8 @1; int16 @2; int32 @3; int64 @4; uint8 @5; uint16 @6;
             uint32 @7; uint64 @8; float32 @9; float64 @10; }

struct TaskSpec {
  key @0 :Key;
  op @1 :Text;             # name in the op registry
  params @2 :Data;         # op parameters, encoded by the op (core/params.hpp)
  deps @3 :List(Key);      # inputs, in the order the op expects them
  dtype @4 :DType;         # output dtype
  shape @5 :List(UInt64);  # output shape: every output size is known before it runs
}

struct Hello {
  version @0 :UInt32;
  role @1 :Role;
  name @2 :Text;
  address @3 :Text;        # worker: where peers and clients reach its ROUTER
  nthreads @4 :UInt32;
  memoryLimit @5 :UInt64;
  spillSpace @6 :UInt64;   # worker: bytes free on the disks of its spill directories
}

struct Welcome { version @0 :UInt32; id @1 :UInt64; heartbeatMs @2 :UInt32; }

struct Error { code @0 :ErrorCode; message @1 :Text; requestId @2 :UInt64; }

# All the tasks of one array as a pattern (core/task_group.hpp says how they
# expand): task i computes block i of the grid `chunks`, in C order.
struct DepPattern {
  input @0 :UInt32;               # index into TaskGroup.inputs
  axisMap @1 :List(Int32);        # per input axis: the output axis it follows, or -1
  stride @2 :List(Int64);
  start @3 :List(Int64);
  count @4 :List(UInt32);         # blocks read along the axis
}
struct GroupInput { token @0 :UInt64; blocks @1 :List(UInt64); }
struct TaskGroup {
  token @0 :UInt64;
  op @1 :Text;
  dtype @2 :DType;
  chunks @3 :List(List(UInt64));  # output chunk sizes per axis, as (size, count) runs
  params @4 :List(Data);          # one for all tasks, or a table...
  paramsIndex @5 :List(UInt32);   # ...with each task's entry (empty: one per task)
  inputs @6 :List(GroupInput);
  deps @7 :List(DepPattern);
}
struct GraphPart {
  union {
    tasks @0 :List(TaskSpec);
    group @1 :TaskGroup;
  }
}

# Client -> scheduler.
struct SubmitGraph {
  graphId @0 :UInt64;
  tasks @1 :List(TaskSpec);  # listed one by one, before the parts
  wanted @2 :List(Key);    # keys the client holds on to (results)
  parts @3 :List(GraphPart);  # inputs before the parts that read them
  inlineBytes @4 :UInt64;  # wanted results up to this size may come with KeysReady
}
struct ReleaseKeys { keys @0 :List(Key); }

# Scheduler -> client.
struct KeyLocation {
  key @0 :Key; dtype @1 :DType; shape @2 :List(UInt64); workers @3 :List(Text);
  inline @4 :Bool;  # KeysReady: the chunk's bytes follow as one payload frame
}
struct KeysReady { graphId @0 :UInt64; keys @1 :List(KeyLocation); }
struct TaskFailed {
  graphId @0 :UInt64;
  key @1 :Key;             # the task that failed (may be a dependency of a wanted key)
  op @2 :Text;
  worker @3 :Text;
  message @4 :Text;
}

# Scheduler -> worker.
struct Assignment {
  spec @0 :TaskSpec;
  depLocations @1 :List(KeyLocation);   # who holds each dependency
  inlineResult @2 :Bool;  # a client waits for this small result: send it with the report
}
struct ComputeTasks { tasks @0 :List(Assignment); }
struct ReleaseChunks { keys @0 :List(Key); }

# Scheduler -> worker: give up these tasks if they have not started (work stealing);
# the worker answers with a StealReply for each.
struct StealTasks { keys @0 :List(Key); }
struct StealResult { key @0 :Key; stolen @1 :Bool; }
struct StealReply { results @0 :List(StealResult); }

# Worker -> scheduler.
struct TaskResult {
  key @0 :Key;
  ok @1 :Bool;
  nbytes @2 :UInt64;
  message @3 :Text;        # error text when not ok
  seconds @4 :Float64;     # kernel run time
  bytesFetched @5 :UInt64; # input bytes fetched from peers for this task
  missingDeps @6 :List(Key);  # inputs no holder could give (holder lost)
  inline @7 :Bool;         # the result's bytes follow as one payload frame
  thread @8 :UInt32;       # where it ran: 0 the worker's event loop, n its executor thread n
}
struct TaskResults {
  results @0 :List(TaskResult);
  acquired @1 :List(Key);  # replicas this worker fetched and now holds
}
struct Heartbeat {
  managedBytes @0 :UInt64;
  spilledBytes @1 :UInt64;
  rssBytes @2 :UInt64;
  executing @3 :UInt32;
  ready @4 :UInt32;
  peakRssBytes @5 :UInt64;
  spilledTotal @6 :UInt64;  # bytes ever written to disk by spilling
  paused @7 :Bool;          # no new task starts (memory above the pause threshold)
  pauseReason @8 :Text;     # why, in words: memory, limit and any spill failure
  spillSpace @9 :UInt64;    # bytes free on the disks of its spill directories
  counters @10 :WorkerCounters;  # totals since the worker started, for /metrics
  cpuSeconds @11 :Float64;  # CPU time of the worker process since it started (user + system)
}
struct StoreIo {
  store @0 :Text;           # "file", or scheme://host[:port] of a remote store (never a token)
  readBytes @1 :UInt64;
  writtenBytes @2 :UInt64;
  requests @3 :UInt64;      # gets, ranged gets and puts
}
struct WorkerCounters {
  tasksExecuted @0 :UInt64;
  tasksFailed @1 :UInt64;
  fetchedBytes @2 :UInt64;  # chunks fetched from peers
  fetches @3 :UInt64;       # requests to peers answered
  fetchSeconds @4 :Float64; # their total latency, request to answer
  servedBytes @5 :UInt64;   # chunks sent to peers and clients
  unspilledTotal @6 :UInt64;  # bytes ever read back from spill files
  spillSeconds @7 :Float64;
  unspillSeconds @8 :Float64;
  stores @9 :List(StoreIo);
}

# Anyone -> worker ROUTER, and the reply.
struct GetChunks { requestId @0 :UInt64; keys @1 :List(Key); }
# A found chunk's bytes follow as `frames` payload frames (0 means 1), concatenated.
struct ChunkHeader { key @0 :Key; found @1 :Bool; dtype @2 :DType; shape @3 :List(UInt64); frames @4 :UInt32; }
struct Chunks { requestId @0 :UInt64; chunks @1 :List(ChunkHeader); }  # one payload frame per found chunk

# Worker -> scheduler on shutdown, scheduler -> worker to stop.
struct Goodbye { reason @0 :Text; }

# Anyone -> scheduler: the state of the cluster, for tools, tests and the benchmark.
struct InfoRequest { requestId @0 :UInt64; }
struct WorkerStatus {
  name @0 :Text; address @1 :Text; nthreads @2 :UInt32; memoryLimit @3 :UInt64;
  keys @4 :UInt64;          # keys the scheduler knows it holds
  processing @5 :UInt64;
  managedBytes @6 :UInt64;  # as of its last heartbeat
  spilledBytes @7 :UInt64;
  rssBytes @8 :UInt64;
  peakRssBytes @9 :UInt64;  # the worker process's high-water mark
  spilledTotal @10 :UInt64; # bytes it ever spilled
}
struct ClusterInfo {
  requestId @0 :UInt64;
  workers @1 :List(WorkerStatus);
  tasks @2 :UInt64;             # task records the scheduler holds
  bytesTransferred @3 :UInt64;  # between workers, since start
  malformedMessages @4 :UInt64;
  tasksFinished @5 :UInt64;     # since start
  heldBytes @6 :UInt64;         # chunks in memory, each once, by the scheduler's count
  planProjectedPeak @7 :UInt64; # the last graph's memory plan: projected peak of heldBytes
  planReplayed @8 :Bool;        # false: the projection is everything at once, a bound
  planMeasuredPeak @9 :UInt64;  # the most heldBytes since that graph was submitted
}

# Scheduler -> workers: a worker is gone; fetches from it will not be answered.
struct PeerLost { address @0 :Text; }

# Worker -> scheduler: this worker is leaving (walltime, scale-down). The scheduler
# copies what only it holds elsewhere, then says goodbye to it.
struct Retiring { reason @0 :Text; }
# Scheduler -> worker: fetch these chunks and keep them (reported as acquired).
struct Replicate { keys @0 :List(KeyLocation); }

# Scheduler -> client: something the user should know while waiting (a stall that may
# clear: every worker paused). Not an error: the computation goes on.
struct Notice { message @0 :Text; }

# Scheduler -> client: how far its latest graph is, in tasks (the new tasks it needed;
# tasks recomputed after a lost worker count again, so done may reach total early).
# Sent when it changed, at most five times a second. graphId is the submitGraph's: a
# count of the graph before may still be on its way when the next one starts.
struct Progress { done @0 :UInt64; total @1 :UInt64; graphId @2 :UInt64; }

# Anyone -> scheduler: the task events from sequence number `since` on, and the
# scheduler's counters now, for a performance report (which asks at its start and end).
struct TaskStreamRequest { requestId @0 :UInt64; since @1 :UInt64; }
struct TaskStreamEvent {
  start @0 :Float64;        # seconds on the scheduler's clock
  stop @1 :Float64;
  key @2 :Key;              # the task's (token 0 for spills)
  worker @3 :UInt64;
  bytes @4 :UInt64;         # output (compute), fetched (transfer), written or read (spill, unspill)
  thread @5 :UInt32;        # 0: the worker's event loop, n: its executor thread n
  op @6 :UInt16;            # index into TaskStreamReply.ops
  kind @7 :UInt8;           # 0 compute, 1 error, 2 transfer, 3 spill, 4 unspill
}
struct StreamWorker { id @0 :UInt64; name @1 :Text; nthreads @2 :UInt32; }
struct TaskStreamReply {
  requestId @0 :UInt64;
  next @1 :UInt64;          # sequence number of the next event: `since` of the next request
  first @2 :UInt64;         # sequence number of events[0]; above `since`: the ring lost those between
  capacity @3 :UInt64;      # events the ring holds (0: the scheduler keeps no task stream)
  clock @4 :Float64;        # the scheduler's clock now
  events @5 :List(TaskStreamEvent);  # at most kMaxStreamReplyEvents of the oldest; ask again from `first + events.size()`
  ops @6 :List(Text);
  workers @7 :List(StreamWorker);    # connected now
  loopBusySeconds @8 :Float64;       # the event loop's busy time since the scheduler started
  transitions @9 :UInt64;            # task state transitions since the scheduler started
  bytesTransferred @10 :UInt64;      # between workers, since start
  tasksFinished @11 :UInt64;         # since start
}

struct Envelope {
  union {
    hello @0 :Hello;
    welcome @1 :Welcome;
    error @2 :Error;
    submitGraph @3 :SubmitGraph;
    releaseKeys @4 :ReleaseKeys;
    keysReady @5 :KeysReady;
    taskFailed @6 :TaskFailed;
    computeTasks @7 :ComputeTasks;
    releaseChunks @8 :ReleaseChunks;
    taskResults @9 :TaskResults;
    heartbeat @10 :Heartbeat;
    getChunks @11 :GetChunks;
    chunks @12 :Chunks;
    goodbye @13 :Goodbye;
    infoRequest @14 :InfoRequest;
    clusterInfo @15 :ClusterInfo;
    peerLost @16 :PeerLost;
    stealTasks @17 :StealTasks;
    stealReply @18 :StealReply;
    retiring @19 :Retiring;
    replicate @20 :Replicate;
    notice @21 :Notice;
    progress @22 :Progress;
    taskStreamRequest @23 :TaskStreamRequest;
    taskStreamReply @24 :TaskStreamReply;
  }
}
