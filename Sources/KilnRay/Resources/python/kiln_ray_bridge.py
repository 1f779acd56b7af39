"""Kiln's bridge to a Ray cluster: Kiln starts it and speaks JSON lines with it over pipes.

Kiln -> bridge (stdin), one object a line:
  {"op": "submit", "id": ID, "bundle": FOLDER, "kiln": PATH, "deadline": SECONDS, "retries": N,
   "node": NODE_ID or null}
  {"op": "cancel", "id": ID}
  {"op": "status"}
Bridge -> Kiln (stdout), one object a line:
  {"event": "ready", "ray": VERSION, "slots": N, "nodes": [NODE...]}
  {"event": "fatal", "code": "unreachable" | "no_slots" | "no_ray" | "init_failed" | "cluster_gone",
   "message": TEXT}
  {"event": "done", "id": ID, "ok": true, "result": RESULT, "node": NODE_IDENTITY}
  {"event": "done", "id": ID, "ok": false, "code": "deadline" | "node_unfit" | "node_died" | "failed",
   "message": TEXT, "node": NODE_IDENTITY or null}
  {"event": "status", "nodes": [NODE...], "in_flight": N}
NODE: {"id", "address", "hostname", "slots", "in_use", "alive"}.

Each bundle is a Ray task asking for one `kiln_slot` (so two evaluations never share a node's slot); it
runs `kiln eval-bundle` on the node, with the node's own cache (KILN_NODE_CACHE where the node was
started, else ~/.cache/kiln/node) and sandbox. A node that dies mid-evaluation makes Ray run the task
again elsewhere (`retries`); Kiln journals it once, when its result comes back.
"""

import argparse
import base64
import json
import os
import queue
import socket
import sys
import threading
import time

SLOT = "kiln_slot"
OUT = sys.stdout


def emit(obj):
    OUT.write(json.dumps(obj) + "\n")
    OUT.flush()


def fatal(code, message):
    emit({"event": "fatal", "code": code, "message": message})
    sys.exit(3)


def reachable(address, timeout=5.0):
    host, _, port = address.rpartition(":")
    if address.startswith("ray://"):
        return None
    try:
        port = int(port)
    except ValueError:
        return "the address %r is not HOST:PORT" % address
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return None
    except OSError as error:
        return "nothing answers at %s (%s)" % (address, error.strerror or error)


def node_address(ray):
    """The address Ray knows this node by, else the one this host routes from."""
    try:
        return ray._private.worker.global_worker.node_ip_address
    except Exception:
        return ray.util.get_node_ip_address()


def evaluate_on_node(files, kiln):
    """Runs on a node: writes the bundle out, evaluates it with the node's kiln, answers its result."""
    import ctypes
    import shutil
    import subprocess
    import tempfile

    import ray

    context = ray.get_runtime_context()
    node = {
        "id": context.get_node_id(),
        "address": node_address(ray),
        "hostname": socket.gethostname(),
    }
    label = os.environ.get("KILN_NODE_KIND")
    if label:
        node["label"] = label
    if not (os.path.isfile(kiln) and os.access(kiln, os.X_OK)):
        return {
            "ok": False,
            "code": "node_unfit",
            "message": "kiln is not at %s on this node: install the same Kiln build there (with its resource folders beside it), or give its path with --ray-kiln" % kiln,
            "node": node,
        }
    cache = os.environ.get("KILN_NODE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kiln", "node")
    work = tempfile.mkdtemp(prefix="kiln-bundle-")
    try:
        for relative, data in files.items():
            path = os.path.join(work, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(base64.b64decode(data))

        def die_with_worker():
            # The evaluation ends with this worker (a cancelled task, a node going down).
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL

        process = subprocess.run(
            [kiln, "eval-bundle", work, "--json", "--cache-dir", cache],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            preexec_fn=die_with_worker,
        )
        if process.returncode != 0:
            message = process.stderr.decode("utf-8", "replace").strip().splitlines()
            text = message[-1] if message else "kiln eval-bundle ended with status %d" % process.returncode
            if text.startswith("error: "):
                text = text[len("error: "):]
            return {
                "ok": False,
                "code": "node_unfit" if process.returncode == 69 else "failed",
                "message": text[:2000],
                "node": node,
            }
        return {"ok": True, "result": json.loads(process.stdout), "node": node}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_bundle(folder):
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, folder)] = base64.b64encode(handle.read()).decode("ascii")
    return files


def nodes_now(state_module):
    import ray

    try:
        available = state_module.state.available_resources_per_node()
    except Exception:
        available = {}
    listed = []
    for node in ray.nodes():
        total = int(node.get("Resources", {}).get(SLOT, 0))
        if total <= 0:
            continue
        node_id = node["NodeID"]
        alive = bool(node.get("Alive"))
        free = int(available.get(node_id, {}).get(SLOT, total if alive else 0))
        listed.append(
            {
                "id": node_id,
                "address": node.get("NodeManagerAddress", ""),
                "hostname": node.get("NodeManagerHostname", ""),
                "slots": total,
                "in_use": max(total - free, 0) if alive else 0,
                "alive": alive,
            }
        )
    return listed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--log", required=True)
    arguments = parser.parse_args()

    # Ray's own chatter goes to the log; stdout carries only this protocol.
    log = open(arguments.log, "a", buffering=1)
    os.dup2(log.fileno(), 2)
    sys.stderr = log

    problem = reachable(arguments.address)
    if problem:
        fatal("unreachable", "the Ray cluster at %s cannot be reached: %s. Start a head node there ('ray start --head --resources=\'{\"%s\": 1}\''), or give its address with --ray-address." % (arguments.address, problem, SLOT))
    try:
        import ray
        import ray._private.state as state_module
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    except Exception as error:
        fatal("no_ray", "the Python that runs Kiln's Ray bridge (%s) cannot import ray: %s. Install it with '%s -m pip install ray' (the cluster's version)." % (sys.executable, error, sys.executable))
    try:
        ray.init(address=arguments.address, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    except Exception as error:
        fatal("init_failed", "cannot connect to the Ray cluster at %s: %s" % (arguments.address, str(error).splitlines()[0] if str(error) else type(error).__name__))

    nodes = nodes_now(state_module)
    slots = sum(node["slots"] for node in nodes if node["alive"])
    if slots == 0:
        names = ", ".join("%s (%s)" % (n.get("NodeManagerHostname", "?"), n["NodeID"][:8]) for n in ray.nodes() if n.get("Alive")) or "none"
        fatal("no_slots", "the Ray cluster at %s advertises no '%s' resource on any live node (nodes: %s): start each node that may evaluate with --resources='{\"%s\": 1}' (one slot per node, or one per accelerator)" % (arguments.address, SLOT, names, SLOT))
    emit({"event": "ready", "ray": ray.__version__, "slots": slots, "nodes": nodes})

    remote = ray.remote(evaluate_on_node)
    commands = queue.Queue()

    def read_commands():
        for line in sys.stdin:
            line = line.strip()
            if line:
                try:
                    commands.put(json.loads(line))
                except ValueError:
                    pass
        commands.put({"op": "eof"})

    threading.Thread(target=read_commands, daemon=True).start()

    pending = {}  # ref -> (id, deadline or None)
    by_id = {}
    last_status = None
    last_poll = 0.0
    while True:
        try:
            command = commands.get(timeout=0.05 if pending else 1.0)
        except queue.Empty:
            command = None
        if command is not None:
            op = command.get("op")
            if op == "eof":
                for ref in list(pending):
                    ray.cancel(ref, force=True)
                return
            if op == "submit":
                evaluation = command["id"]
                try:
                    files = read_bundle(command["bundle"])
                except OSError as error:
                    emit({"event": "done", "id": evaluation, "ok": False, "code": "failed", "message": "cannot read the bundle: %s" % error, "node": None})
                    continue
                options = {"resources": {SLOT: 1}, "num_cpus": 0, "max_retries": int(command.get("retries", 3)), "retry_exceptions": False}
                if command.get("node"):
                    options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=command["node"], soft=False)
                ref = remote.options(**options).remote(files, command["kiln"])
                deadline = command.get("deadline")
                pending[ref] = (evaluation, time.monotonic() + deadline if deadline else None)
                by_id[evaluation] = ref
            elif op == "cancel":
                ref = by_id.pop(command.get("id"), None)
                if ref is not None and ref in pending:
                    del pending[ref]
                    ray.cancel(ref, force=True)
            elif op == "status":
                last_status = None
        if pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.05)
            for ref in ready:
                evaluation, _ = pending.pop(ref)
                by_id.pop(evaluation, None)
                try:
                    answer = ray.get(ref)
                except Exception as error:
                    name = type(error).__name__
                    code = "node_died" if ("NodeDied" in name or "WorkerCrashed" in name or "OwnerDied" in name or "ObjectLost" in name) else "failed"
                    answer = {"ok": False, "code": code, "message": "%s: %s" % (name, str(error).splitlines()[0] if str(error) else ""), "node": None}
                answer["event"] = "done"
                answer["id"] = evaluation
                emit(answer)
            now = time.monotonic()
            for ref, (evaluation, deadline) in list(pending.items()):
                if deadline is not None and now > deadline:
                    del pending[ref]
                    by_id.pop(evaluation, None)
                    ray.cancel(ref, force=True)
                    emit({"event": "done", "id": evaluation, "ok": False, "code": "deadline", "message": "the evaluation did not finish within its deadline and was cancelled", "node": None})
        now = time.monotonic()
        if last_status is None or now - last_poll > (1.0 if pending else 5.0):
            last_poll = now
            try:
                status = {"event": "status", "nodes": nodes_now(state_module), "in_flight": len(pending)}
            except Exception as error:
                fatal("cluster_gone", "lost the Ray cluster at %s: %s" % (arguments.address, error))
            if status != last_status:
                emit(status)
                last_status = status


if __name__ == "__main__":
    main()
