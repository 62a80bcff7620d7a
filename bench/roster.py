"""Roadshow roster and meeting schedule: time to a roster and its gap to the solver's bound.

    python -m bench.roster [--projects 2000] [--investors 500] [--time-limit 8] [--noise 0.6]

Prints one JSON object on stdout (progress goes to stderr) with a row per method: CP-SAT on the pre-filtered
instance, the greedy heuristic (its gap measured against the CP-SAT bound), and the meeting schedule of the
chosen roster, CP-SAT and its greedy heuristic (gap against the CP-SAT schedule's bound). Writes a heat map of
the chosen roster's match matrix to artifacts/roster_matrix.png.

The instance is synthetic but structured: every sector has a centre in a 16-d latent space; a project or an
investor sits near the mean of its sectors' centres (`--noise` scatters it); a pair's score is the cosine of
the two, plus a stage-fit term and a little pair noise. Investors belong to organisations (a quarter are
independent angels); 1% of the well-fitting pairs are conflicts (the investor passed on the project).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import emit, progress
from matcher.roster import Label, RosterError, RosterProblem, greedy_roster, solve_roster
from matcher.schedule import MeetingProblem, greedy_schedule, schedule_meetings
from models.taxonomy import SECTORS, STAGES

THEME = ("smart_manufacturing", "robotics", "ai", "iot")


def make_problem(*, projects: int, investors: int, seed: int = 0, noise: float = 0.6, n_projects: int = 12,
                 m_investors: int = 40, quota: int = 4, min_fits: int = 2) -> RosterProblem:
    rng = np.random.default_rng(seed)
    codes = [c for c in SECTORS if c != "other"]
    dim = 16
    centres = rng.normal(size=(len(codes), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    popularity = 1.0 / np.arange(1, len(codes) + 1) ** 0.7  # a few busy sectors, a long tail
    popularity /= popularity.sum()

    def place(sectors: np.ndarray) -> np.ndarray:
        v = centres[sectors].mean(axis=0) + noise * 2.0 * rng.normal(size=dim) / np.sqrt(dim)
        return v / np.linalg.norm(v)

    p_sectors = [rng.choice(len(codes), size=rng.integers(1, 3), replace=False, p=popularity)
                 for _ in range(projects)]
    i_sectors = [rng.choice(len(codes), size=rng.integers(2, 5), replace=False, p=popularity)
                 for _ in range(investors)]
    u = np.array([place(s) for s in p_sectors])  # [P, 16]
    v = np.array([place(s) for s in i_sectors])  # [I, 16]
    stage = rng.integers(0, 6, size=projects)
    low = rng.integers(0, 4, size=investors)
    high = np.minimum(5, low + rng.integers(1, 3, size=investors))
    stage_fit = ((stage[:, None] >= low[None]) & (stage[:, None] <= high[None])).astype(float)
    score = np.clip(0.45 + 0.4 * (u @ v.T) + 0.1 * stage_fit + 0.03 * rng.normal(size=(projects, investors)), 0, 1)
    theme = centres[[codes.index(c) for c in THEME]].mean(axis=0)
    theme /= np.linalg.norm(theme)
    orgs = ["" if rng.random() < 0.25 else f"org{rng.integers(0, 140)}" for _ in range(investors)]
    good = np.argwhere(score > 0.7)
    conflicts = {(int(p), int(i)) for p, i in good[rng.choice(len(good), size=len(good) // 100, replace=False)]}
    stage_codes = list(STAGES)
    return RosterProblem(
        project_ids=[f"p{k:04d}" for k in range(projects)], investor_ids=[f"i{k:03d}" for k in range(investors)],
        score=score, project_relevance=np.clip(0.5 + 0.5 * u @ theme, 0, 1),
        investor_relevance=np.clip(0.5 + 0.5 * v @ theme, 0, 1),
        project_sectors=[frozenset(codes[j] for j in s) for s in p_sectors], investor_org=orgs,
        n_projects=n_projects, m_investors=m_investors, conflicts=conflicts,
        sector_quota=dict.fromkeys(codes, quota), fit_threshold=0.6, min_fits=min_fits, relevance_weight=10.0,
        project_labels={f"p{k:04d}": Label(stage=STAGES[stage_codes[stage[k]]], ask=f"¥{rng.integers(1, 30)}M")
                        for k in range(projects)},
        investor_labels={f"i{k:03d}": Label(sectors=frozenset(codes[j] for j in s)) for k, s in enumerate(i_sectors)},
        sector_names=SECTORS)


def plot(problem: RosterProblem, project_ids: tuple[str, ...], investor_ids: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p_at = {p: k for k, p in enumerate(problem.project_ids)}
    i_at = {i: k for k, i in enumerate(problem.investor_ids)}
    p = [p_at[x] for x in project_ids]
    i = [i_at[x] for x in investor_ids]
    score = problem.score[np.ix_(p, i)]
    fits = problem.fits[np.ix_(p, i)]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(i) + 2), max(3.0, 0.3 * len(p) + 1.5)))
    image = ax.imshow(np.where(fits, score, np.nan), cmap="viridis", vmin=problem.fit_threshold, vmax=1.0,
                      aspect="auto")
    ax.imshow(np.where(fits, np.nan, 1.0), cmap="Greys", vmin=0, vmax=4, aspect="auto")  # non-fits in grey
    ax.set_xticks(range(len(i)), investor_ids, rotation=90, fontsize=6)
    ax.set_yticks(range(len(p)), project_ids, fontsize=7)
    ax.set_xlabel("investors")
    ax.set_ylabel("projects")
    ax.set_title(f"Chosen roster: pair scores (grey: below {problem.fit_threshold:g} or conflict)")
    fig.colorbar(image, ax=ax, label="score")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=2000)
    ap.add_argument("--investors", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.6, help="scatter around the sector centres")
    ap.add_argument("--time-limit", type=float, default=8.0, help="CP-SAT seconds for the roster")
    ap.add_argument("--prefilter-factor", type=int, default=4)
    ap.add_argument("--slots", type=int, default=6)
    ap.add_argument("--tables", type=int, default=20)
    ap.add_argument("--plot", type=Path, default=Path("artifacts/roster_matrix.png"))
    args = ap.parse_args()

    progress(f"building {args.projects} projects x {args.investors} investors")
    problem = make_problem(projects=args.projects, investors=args.investors, seed=args.seed, noise=args.noise)
    fit_rate = float(problem.fits.mean())

    progress("greedy roster")
    started = time.perf_counter()
    greedy = greedy_roster(problem, prefilter_factor=args.prefilter_factor)
    greedy_seconds = time.perf_counter() - started

    progress(f"CP-SAT roster (time limit {args.time_limit:g} s, 2 workers)")
    started = time.perf_counter()
    exact = solve_roster(problem, time_limit=args.time_limit, prefilter_factor=args.prefilter_factor)
    exact_seconds = time.perf_counter() - started
    progress(f"  {exact.status}: objective {exact.objective:.3f}, bound {exact.bound:.3f}, gap {exact.gap:.2%}")

    progress(f"meeting schedule: {args.slots} slots x {args.tables} tables")
    meeting = MeetingProblem.from_roster(problem, exact.project_ids, exact.investor_ids, slots=args.slots,
                                         tables=args.tables, investor_cap=3, project_min=args.slots - 1,
                                         min_score=problem.fit_threshold)
    started = time.perf_counter()
    schedule = schedule_meetings(meeting, time_limit=5.0)
    schedule_seconds = time.perf_counter() - started
    started = time.perf_counter()
    greedy_meetings = greedy_schedule(meeting)
    greedy_meetings_seconds = time.perf_counter() - started

    plot(problem, exact.project_ids, exact.investor_ids, args.plot)
    progress(f"wrote {args.plot}")

    def r(x: float) -> float:
        return round(float(x), 4)

    rows = [
        {"name": "cp-sat", "seconds": r(exact_seconds), "objective": r(exact.objective), "bound": r(exact.bound),
         "gap": r(exact.gap), "status": exact.status, "method": exact.method, "kept": list(exact.kept)},
        {"name": "greedy", "seconds": r(greedy_seconds), "objective": r(greedy.objective), "bound": r(exact.bound),
         "gap": r((exact.bound - greedy.objective) / exact.bound), "kept": list(greedy.kept)},
        {"name": "schedule", "seconds": r(schedule_seconds), "objective": r(schedule.objective),
         "bound": r(schedule.bound), "gap": r(schedule.gap), "status": schedule.status,
         "meetings": len(schedule.meetings), "shortfalls": len(schedule.shortfalls),
         "size": f"{len(meeting.project_ids)}x{len(meeting.investor_ids)}, {args.slots} slots x {args.tables} tables"},
        {"name": "schedule_greedy", "seconds": r(greedy_meetings_seconds), "objective": r(greedy_meetings.objective),
         "bound": r(schedule.bound), "gap": r((schedule.bound - greedy_meetings.objective) / schedule.bound),
         "meetings": len(greedy_meetings.meetings), "shortfalls": len(greedy_meetings.shortfalls)},
    ]
    emit("roster", rows, instance={
        "projects": args.projects, "investors": args.investors, "n_projects": problem.n_projects,
        "m_investors": problem.m_investors, "sector_quota": 4, "min_fits": problem.min_fits,
        "fit_threshold": problem.fit_threshold, "fit_rate": round(fit_rate, 4), "noise": args.noise,
        "relevance_weight": problem.relevance_weight, "time_limit": args.time_limit,
        "prefilter_factor": args.prefilter_factor, "seed": args.seed},
        target={"seconds": 10, "gap": 0.02}, plot=str(args.plot))


if __name__ == "__main__":
    try:
        main()
    except RosterError as e:
        raise SystemExit(f"bench.roster: {e}") from e
