"""`shopsync sync --wait`: a live bar per resource on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from cli_views import SHORT_NAMES, number, span
from config_db.mongo import MongoDocument

ReadJob = Callable[[], tuple[MongoDocument, dict[str, Any]]]
POLL_SECONDS = 0.5
# Without a terminal a resource's line is printed when its status changes, else this often.
PLAIN_EVERY_SECONDS = 5.0
ENDED = ("completed", "failed")
RUN_ENDED = ("completed", "failed", "skipped")


def counts(run: MongoDocument) -> str:
    """`1,200/5,000` documents seen of those expected (`?` while Shopify has not said)."""
    return f"{number(int(run.get('seen') or 0))}/{number(run.get('expected'))}"


def detail(run: MongoDocument) -> str:
    """Pages for a paged run; lines read of the export's objects for a bulk one."""
    if run.get("path") == "bulk":
        lines, objects = int(run.get("linesIngested") or 0), run.get("objectCount")
        status = run.get("bulkStatus")
        if status in ("CREATED", "RUNNING"):
            return f"bulk export {status.lower()} ({number(objects)} objects)"
        return f"bulk {number(lines)}/{number(objects)} objects"
    pages = int(run.get("pages") or 0)
    return f"{number(pages)} page{'' if pages == 1 else 's'}"


def cost(run: MongoDocument, waits_label: str = "throttle waits") -> str:
    points, waits = int(run.get("points") or 0), int(run.get("throttleWaits") or 0)
    return f"{number(points)} pts, {number(waits)} {waits_label}"


def run_state(run: MongoDocument, eta: int | None) -> str:
    status = str(run.get("status"))
    if status == "running" and eta is not None:
        return f"running, {span(eta)} left"
    if status in ("failed", "skipped") and run.get("error"):
        return f"{status}: {run['error']}"
    return status


def plain_line(name: str, run: MongoDocument, eta: int | None) -> str:
    """One resource as a line: name, documents seen/expected, pages or objects, cost, state."""
    label = SHORT_NAMES.get(name, name)
    return f"{label:<11} {counts(run):>15} docs  {detail(run)}  {cost(run)}  {run_state(run, eta)}"


def job_state(job: MongoDocument, estimate: dict[str, Any]) -> str:
    """`running, 2 min left`, `completed in 1 min`, `failed: …`."""
    status = str(job["status"])
    if status == "completed":
        return f"completed in {span(job.get('durationSeconds'))}"
    if status == "failed":
        return f"failed: {job.get('error') or 'see the resources above'}"
    left = estimate.get("etaSeconds")
    return status + (f", {span(left)} left" if left is not None else "")


def job_line(job: MongoDocument, estimate: dict[str, Any]) -> str:
    """`job <id> running 42 %, 2 min left` (the progress only while it runs)."""
    if job["status"] in ENDED:
        return f"job {job['_id']} {job_state(job, estimate)}"
    share = f" {estimate['progress'] * 100:.0f} %"
    status, _, rest = job_state(job, estimate).partition(",")
    return f"job {job['_id']} {status}{share}{',' + rest if rest else ''}"


def follow_job(
    read: ReadJob, console: Console, poll_seconds: float = POLL_SECONDS
) -> MongoDocument:
    """Show the job until it ends; returns it as it ended."""
    if console.is_terminal and not console.is_dumb_terminal:
        return _follow_live(read, console, poll_seconds)
    return _follow_plain(read, console, poll_seconds)


def _follow_plain(read: ReadJob, console: Console, poll_seconds: float) -> MongoDocument:
    printed: dict[str, tuple[str, str, float]] = {}  # name -> (line, status, when)
    while True:
        job, estimate = read()
        now = time.monotonic()
        for name, run in job["resources"].items():
            line = plain_line(name, run, estimate["resources"].get(name))
            last_line, last_status, when = printed.get(name, ("", "", 0.0))
            due = run.get("status") != last_status or now - when >= PLAIN_EVERY_SECONDS
            if line != last_line and (due or job["status"] in ENDED):
                console.print(line, highlight=False, soft_wrap=True)
                printed[name] = (line, str(run.get("status")), now)
        if job["status"] in ENDED:
            console.print(job_line(job, estimate), highlight=False, soft_wrap=True)
            return job
        time.sleep(poll_seconds)


# Below this many columns the pages/objects and points columns are left out: cut to fit,
# every column lost its end ("collectio…", "running, 1 s le…") on an 80-column terminal.
FULL_WIDTH = 120


def _columns(width: int) -> tuple[Any, ...]:
    if width < FULL_WIDTH:
        return (
            TextColumn("{task.description}"),
            BarColumn(bar_width=10),
            TextColumn("{task.fields[counts]}", justify="right"),
            TextColumn("{task.fields[state]}"),
        )
    return (
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[counts]}", justify="right"),
        TextColumn("{task.fields[detail]}"),
        TextColumn("{task.fields[cost]}", style="dim"),
        TextColumn("{task.fields[state]}"),
    )


def _follow_live(read: ReadJob, console: Console, poll_seconds: float) -> MongoDocument:
    with Progress(*_columns(console.width), console=console, refresh_per_second=4) as progress:
        job, estimate = read()
        overall = progress.add_task("job", total=1.0, counts="", detail="", cost="", state="")
        tasks = {
            name: progress.add_task(SHORT_NAMES.get(name, name), total=None, counts="",
                                    detail="", cost="", state="")
            for name in job["resources"]
        }  # fmt: skip
        while True:
            for name, run in job["resources"].items():
                _update(progress, tasks[name], run, estimate["resources"].get(name))
            progress.update(
                overall, completed=estimate["progress"], state=job_state(job, estimate),
                counts=f"{estimate['progress'] * 100:.0f} %",
            )  # fmt: skip
            if job["status"] in ENDED:
                return job
            time.sleep(poll_seconds)
            job, estimate = read()


def _update(progress: Progress, task: TaskID, run: MongoDocument, eta: int | None) -> None:
    seen, expected = int(run.get("seen") or 0), run.get("expected")
    total: float | None = expected if isinstance(expected, int) else None
    if run.get("status") in RUN_ENDED:
        total = max(total or 0, seen, 1)
        seen = int(total) if run.get("status") == "completed" else seen
    progress.update(
        task, total=total, completed=seen, counts=counts(run), detail=detail(run),
        cost=cost(run, "waits"), state=run_state(run, eta),
    )  # fmt: skip
