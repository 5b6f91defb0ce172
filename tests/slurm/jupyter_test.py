#!/usr/bin/python3
"""Jupyter on SLURM, under the one-node SLURM of tests/slurm/run.sh: `rsdat-slurm start 2`
and `rsdat-slurm jupyter` start a scheduler, two workers and a Jupyter server as
batch jobs (on loopback); through the server's REST API and a kernel's websocket, with
the job's token, the example notebooks (examples/notebooks/) are executed cell by cell,
saved through the contents API and read back; their `rsdat.Client()` must have
connected to the SLURM-started cluster (its scheduler, its two workers) and their
result cells must equal NumPy's (tests/notebooks/check_notebook.py). An interrupt
through the API (the notebook page's Ctrl-C) while a cell computes on the cluster ends
that cell in KeyboardInterrupt, and the kernel's next cell computes on the same cluster.
Then `rsdat-slurm stop` ends the server's job with the cluster's.

Environment (tests/CMakeLists.txt sets it): SLURM_CONF and RSDAT_SLURM_TEST_DIR from
run.sh, RSDAT_SLURM (deploy/slurm/rsdat-slurm), RSDAT_BIN_DIR (build/bin, next to
build/python), RSDAT_SOURCE_DIR.

Usage: tests/slurm/run.sh /usr/bin/python3 tests/slurm/jupyter_test.py
"""
import asyncio
import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

NOTEBOOKS = ("spring_index.ipynb", "ndvi.ipynb")
CELL_TIMEOUT = 600  # seconds one cell may take before the test gives up on it


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"jupyter_test: {name} is not set (run through tests/slurm/run.sh, as ctest does)")
    return value


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


class Api:
    """The Jupyter server's REST API, with the token in the Authorization header."""

    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/") + "/", token

    def call(self, method, path, body=None, token=True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            return e.code, None


def message(msg_type, content, session):
    return {"header": {"msg_id": uuid.uuid4().hex, "username": "test", "session": session, "msg_type": msg_type,
                       "version": "5.3", "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "content": content, "channel": "shell", "buffers": []}


class KernelChannel:
    """A kernel's websocket, as the notebook page holds it."""

    @classmethod
    async def open(cls, api, kernel_id):
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect
        self = cls()
        self.session = uuid.uuid4().hex
        ws_url = api.url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels?session_id={self.session}"
        self.conn = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {api.token}"}))
        return self

    async def request(self, msg_type, content, on_iopub=None):
        """Sends a shell request and waits for its reply and for the kernel to be idle
        again, handing the request's other iopub messages to on_iopub (awaited when it
        is a coroutine function). Returns the reply."""
        msg = message(msg_type, content, self.session)
        await self.conn.write_message(json.dumps(msg))
        reply, idle = None, False
        while reply is None or not idle:
            raw = await asyncio.wait_for(self.conn.read_message(), CELL_TIMEOUT)
            if raw is None:
                raise Failure("the kernel's websocket closed")
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                continue
            if m["channel"] == "shell":
                reply = m
            elif m["channel"] == "iopub":
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    idle = True
                elif on_iopub:
                    done = on_iopub(m)
                    if asyncio.iscoroutine(done):
                        await done
        return reply

    async def execute(self, code, on_iopub=None):
        return await self.request("execute_request", {"code": code, "silent": False, "store_history": True,
                                                      "user_expressions": {}, "allow_stdin": False,
                                                      "stop_on_error": True}, on_iopub)

    def close(self):
        self.conn.close()


async def execute_notebook(api, kernel_id, nb):
    """Runs every code cell of `nb` (a notebook dict) in the kernel through its
    websocket and fills in the cells' outputs and execution counts, as the notebook
    page does. Stops at the first cell that raises (its error output kept)."""
    kernel = await KernelChannel.open(api, kernel_id)
    info = await kernel.request("kernel_info_request", {})
    expect(info["content"].get("status") == "ok", f"kernel_info_reply: {info['content']}")
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = []

        def collect(m):
            c, t = m["content"], m["msg_type"]
            if t == "stream":
                if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == c["name"]:
                    outputs[-1]["text"] += c["text"]
                else:
                    outputs.append({"output_type": "stream", "name": c["name"], "text": c["text"]})
            elif t in ("execute_result", "display_data"):
                out = {"output_type": t, "data": c["data"], "metadata": c.get("metadata", {})}
                if t == "execute_result":
                    out["execution_count"] = c["execution_count"]
                outputs.append(out)
            elif t == "error":
                outputs.append({"output_type": "error", "ename": c["ename"], "evalue": c["evalue"],
                                "traceback": c["traceback"]})

        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        reply = await kernel.execute(source, collect)
        cell["outputs"] = outputs
        cell["execution_count"] = reply["content"].get("execution_count")
        if reply["content"]["status"] != "ok":
            print(f"cell raised: {reply['content'].get('ename')}: {reply['content'].get('evalue')}", file=sys.stderr)
            break
    kernel.close()


INTERRUPTED_CELL = """\
import threading
import rsdat, rsdat.array as da
client = rsdat.Client()
# Minutes of work for the cluster; the line is printed once the computation runs.
threading.Timer(1.0, print, ("computing",), {"flush": True}).start()
da.random.random((400000, 400000), chunks=(2000, 2000)).sum().compute()
"""
AFTER_CELL = """\
print(int(da.arange(10, chunks=3).sum().compute()), len(client.workers()), client.scheduler_address)
"""


async def interrupt_computation(api, kernel_id):
    """Ctrl-C from the notebook page (POST /api/kernels/ID/interrupt) while a cell
    computes on the cluster: the cell ends in KeyboardInterrupt and the kernel's next
    cell computes on the same cluster. Returns that cell's output."""
    kernel = await KernelChannel.open(api, kernel_id)

    async def run(code, on_stdout=None):
        """The cell's status, its stdout and the name of its error (None if none)."""
        text, error = "", []

        async def watch(m):
            nonlocal text
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                text += m["content"]["text"]
                if on_stdout:
                    await on_stdout(text)
            elif m["msg_type"] == "error":
                error.append(m["content"]["ename"])
        reply = await kernel.execute(code, watch)
        return reply["content"]["status"], text, error[0] if error else None

    interrupted = []

    async def interrupt_when_computing(text):
        if "computing" in text and not interrupted:
            status, _ = api.call("POST", f"api/kernels/{kernel_id}/interrupt")
            expect(status == 204, f"POST interrupt answered {status}")
            interrupted.append(True)

    status, _, error = await run(INTERRUPTED_CELL, interrupt_when_computing)
    expect(interrupted, "the cell ended before it printed that it computes")
    expect(status == "error" and error == "KeyboardInterrupt",
           f"the interrupted cell ended with status {status}, error {error}, not KeyboardInterrupt")
    status, text, error = await run(AFTER_CELL)
    expect(status == "ok", f"the cell after the interrupt failed: {error}")
    kernel.close()
    return text


def main():
    if len(sys.argv) > 1:
        print(__doc__)
        return 0 if sys.argv[1] in ("-h", "--help") else 2
    slurm_dir, rsdat_slurm, bin_dir = env("RSDAT_SLURM_TEST_DIR"), env("RSDAT_SLURM"), env("RSDAT_BIN_DIR")
    source = env("RSDAT_SOURCE_DIR")
    env("SLURM_CONF")
    for tool in ("jupyter-notebook",):
        if shutil.which(tool) is None:
            sys.exit(f"jupyter_test: {tool} is missing (scripts/install-deps.sh --with-python installs it)")
    here = os.path.join(slurm_dir, "jupyter")
    notebooks = os.path.join(here, "notebooks")
    os.makedirs(notebooks, exist_ok=True)
    examples = os.path.join(source, "examples", "notebooks")
    for f in NOTEBOOKS + tuple(f for f in os.listdir(examples) if f.endswith(".py")):  # and their helpers
        shutil.copy(os.path.join(examples, f), notebooks)
    scheduler_file = os.path.join(here, "scheduler.json")
    name = "tjupyter"
    base = [rsdat_slurm, "--name", name, "--scheduler-file", scheduler_file, "--bin", bin_dir, "--interface", "lo",
            "--cpus", "1", "--memory", "1G", "--walltime", "00:20:00", "--notebook-dir", notebooks,
            "--jupyter-memory", "2G", "--jupyter-walltime", "00:30:00", "--timeout", "120"]
    run_env = dict(os.environ, RSDAT_SLURM_CONFIG="/dev/null")

    def slurm(*args, check=True):
        done = subprocess.run(base + list(args), env=run_env, capture_output=True, text=True)
        print(f"$ rsdat-slurm {' '.join(args)}\n{done.stdout}{done.stderr}", end="", flush=True)
        if check and done.returncode != 0:
            raise Failure(f"rsdat-slurm {' '.join(args)} failed with status {done.returncode}")
        return done

    failures = []
    t0 = time.monotonic()
    try:
        slurm("start", "2")
        out = slurm("jupyter").stdout
        expect("ssh -N -L " in out and "http://localhost:" in out and "?token=" in out,
               "rsdat-slurm jupyter printed no ssh -L line and URL")
        info_file = os.path.join(here, f"{name}-jupyter.json")
        expect(stat.S_IMODE(os.stat(info_file).st_mode) == 0o600, f"{info_file} is not mode 0600")
        with open(info_file) as f:
            info = json.load(f)
        expect(info["host"] == "127.0.0.1", f"the server listens on {info['host']}, not on lo's address")
        expect(info["token"] in out and f"-L {info['port']}:{info['host']}:{info['port']} " in out,
               "the printed ssh -L line and URL are not the server's")
        again = slurm("jupyter").stdout
        expect("is already there" in again and info["token"] in again, "a second rsdat-slurm jupyter did not find the server")
        status_out = slurm("status").stdout
        expect(f"Jupyter server: http://{info['host']}:{info['port']}/ " in status_out and f"{name}-jupyter" in status_out,
               "rsdat-slurm status shows no Jupyter job and server")
        expect(info["token"] not in status_out, "rsdat-slurm status shows the server's token")
        with open(scheduler_file) as f:
            scheduler = json.load(f)["address"]
        api = Api(f"http://{info['host']}:{info['port']}/", info["token"])

        status, _ = api.call("GET", "api/status", token=False)
        expect(status == 403, f"GET /api/status without the token answered {status}, not 403")
        status, body = api.call("GET", "api/status")
        expect(status == 200, f"GET /api/status with the token answered {status}")
        print(f"server up after {time.monotonic() - t0:.1f} s: {body}")
        status, kernelspecs = api.call("GET", "api/kernelspecs")
        expect(status == 200 and "python3" in kernelspecs["kernelspecs"], f"kernelspecs: {status} {kernelspecs}")
        argv = kernelspecs["kernelspecs"]["python3"]["spec"]["argv"]
        print(f"kernel: {' '.join(argv)}")

        for nb_name in NOTEBOOKS:
            status, model = api.call("GET", f"api/contents/{nb_name}?type=notebook&content=1")
            expect(status == 200 and model["type"] == "notebook", f"GET contents {nb_name}: {status}")
            nb = model["content"]
            expect(all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"),
                   f"{nb_name} is committed with outputs")
            status, sess = api.call("POST", "api/sessions", {"path": nb_name, "type": "notebook", "name": nb_name,
                                                             "kernel": {"name": "python3"}})
            expect(status == 201, f"POST /api/sessions for {nb_name} answered {status}")
            t1 = time.monotonic()
            asyncio.run(execute_notebook(api, sess["kernel"]["id"], nb))
            print(f"{nb_name}: executed through the server's kernel in {time.monotonic() - t1:.1f} s")
            executed = nb_name.replace(".ipynb", ".executed.ipynb")
            status, _ = api.call("PUT", f"api/contents/{executed}", {"type": "notebook", "format": "json",
                                                                     "content": nb})
            expect(status in (200, 201), f"PUT contents {executed} answered {status}")
            status, saved = api.call("GET", f"api/contents/{executed}?type=notebook&content=1")
            expect(status == 200, f"GET contents {executed} answered {status}")
            status, _ = api.call("DELETE", f"api/sessions/{sess['id']}")
            expect(status == 204, f"DELETE the session answered {status}")
            # The check names notebooks by their kind: spring_index.ipynb, ndvi.ipynb.
            checked = os.path.join(here, "checked", nb_name)
            os.makedirs(os.path.dirname(checked), exist_ok=True)
            with open(checked, "w") as f:
                json.dump(saved["content"], f)
            check = subprocess.run([sys.executable, os.path.join(source, "tests", "notebooks", "check_notebook.py"),
                                    "--workers", "2", "--scheduler", scheduler, checked])
            if check.returncode != 0:
                failures.append(f"{nb_name}: its results through the SLURM-started Jupyter server are wrong")

        # Ctrl-C in a notebook: the computation on the SLURM cluster is cancelled and the
        # kernel and cluster stay usable.
        status, sess = api.call("POST", "api/sessions", {"path": "interrupt.ipynb", "type": "notebook",
                                                         "name": "interrupt.ipynb", "kernel": {"name": "python3"}})
        expect(status == 201, f"POST /api/sessions answered {status}")
        t1 = time.monotonic()
        after = asyncio.run(interrupt_computation(api, sess["kernel"]["id"]))
        print(f"interrupted a computation and computed again in {time.monotonic() - t1:.1f} s: {after.strip()}")
        expect(after.split() == ["45", "2", scheduler], f"after the interrupt the kernel computed {after!r}")
        api.call("DELETE", f"api/sessions/{sess['id']}")
        # The cancelled graph leaves nothing on the cluster (released as the scheduler
        # hears of it: bounded polling, no timing asserted).
        held = ""
        for _ in range(120):
            held = subprocess.run([os.path.join(bin_dir, "rsdat-status"), "--scheduler-file", scheduler_file,
                                   "--timeout", "10"], capture_output=True, text=True).stdout
            if " 2 workers, 0 tasks held" in held:
                break
            time.sleep(0.5)
        expect(" 2 workers, 0 tasks held" in held, f"the cluster still holds tasks after the interrupt:\n{held}")
    except Failure as e:
        failures.append(str(e))
    finally:
        stop = slurm("stop", check=False)
        if stop.returncode != 0:
            failures.append(f"rsdat-slurm stop failed with status {stop.returncode}")
    left = subprocess.run(["squeue", "-h", f"--name={name}-scheduler,{name}-worker,{name}-jupyter",
                           "--states=PENDING,CONFIGURING,RUNNING,SUSPENDED"],
                          capture_output=True, text=True).stdout
    if left.strip():
        failures.append(f"jobs left after stop: {left}")
    if os.path.exists(os.path.join(here, f"{name}-jupyter.json")):
        failures.append("the Jupyter job left its connection file after it ended")
    if failures:
        for log in sorted(os.listdir(os.path.join(here, "logs"))) if os.path.isdir(os.path.join(here, "logs")) else []:
            with open(os.path.join(here, "logs", log)) as f:
                print(f"--- {log} (last lines)\n" + "".join(f.readlines()[-20:]), file=sys.stderr)
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"Jupyter on SLURM: {len(NOTEBOOKS)} notebooks executed and checked, stopped, in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
