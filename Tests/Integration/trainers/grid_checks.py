"""The grid tests' shared checks over a run directory (43 on the namespace test bed, 59 under
Slurm), read from the run store and the step trainer's files (trainers/step-trainer.sh).

  grid_checks.py config-on RUN NODE
      the configs running on NODE that checkpointed step 5 or later (one id per line)
  grid_checks.py exactly-once RUN RESULTS_JSON LOST_ID NODE CONFIGS [--sorted]
      CONFIGS configs all done, each completed once (its `completions`); LOST_ID ran twice,
      first on NODE, then resumed (BATON_RESUME=1, from step 5 or later) elsewhere; every
      other config ran once; with --sorted, results best first by `score`
  grid_checks.py handoff-times RUN FAILED_AT
      "X s to hand-off, Y s to the resumed start" after the fault (seconds since 1970)
"""
import json
import sqlite3
import sys


def store(run):
    return sqlite3.connect(f"file:{run}/grid.sqlite?mode=ro", uri=True, timeout=1)


def config_on(run, node):
    try:
        rows = store(run).execute(
            "select config_id from attempts where status='running' and (',' || nodes || ',') like ?",
            (f"%,{node},%",)).fetchall()
    except sqlite3.Error:
        rows = []
    for (c,) in rows:
        try:
            step = open(f"{run}/configs/{c}/checkpoint/step").read()
        except FileNotFoundError:
            continue  # not checkpointed yet
        if int(step) >= 5:  # the trainer replaces it atomically: never torn
            print(c)


def exactly_once(run, results, lost, node, configs, ordered):
    rows = json.load(open(results))
    assert len(rows) == configs and all(r["status"] == "done" for r in rows), rows
    for r in rows:
        done = open(f"{run}/configs/{r['id']}/checkpoint/completions").read().split()
        assert len(done) == 1, (r["id"], "completions", done)
        if r["id"] == lost:
            assert r["attempts"] == 2 and r["resumed"], r
            assert r["nodes"][0] == [node] and r["nodes"][1] != [node], r
            said = [l for l in open(f"{run}/configs/{lost}/attempt-2.log").read().splitlines() if "resume=" in l][0]
            assert "resume=1 attempt=2" in said and int(said.split("start=")[1]) >= 5, said
            # The node's loss, never a failure charged to the config.
            losses = store(run).execute("select losses from nodes where name = ?", (node,)).fetchone()
            assert losses and losses[0] >= 1, ("node never judged lost", node, losses)
        else:
            assert r["attempts"] == 1, r
    if ordered:
        scores = [r["params"]["score"] for r in rows]
        assert scores == sorted(scores, reverse=True), ("not sorted by the objective", scores)


def handoff_times(run, failed):
    db = store(run)
    t = db.execute("select min(time) from events where text like '%back to the head of the queue%'").fetchone()[0]
    s = db.execute("select min(started_at) from attempts where number = 2").fetchone()[0]
    print(f"{t - failed:.1f} s to hand-off, {s - failed:.1f} s to the resumed start" if t and s else "no hand-off")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "config-on":
        config_on(*args)
    elif what == "exactly-once":
        exactly_once(args[0], args[1], args[2], args[3], int(args[4]), "--sorted" in args[5:])
    elif what == "handoff-times":
        handoff_times(args[0], float(args[1]))
    else:
        sys.exit(f"grid_checks.py: unknown check {what}")
