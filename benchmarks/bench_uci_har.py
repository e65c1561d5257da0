"""UCI HAR protocol rebuilt from the real UCI HAPT recordings: every model, mean ± std over seeds.

Protocol (Anguita et al. 2013 / papers 003-004): 6 activities, 128-sample
windows with 50 % overlap at 50 Hz, 9 channels (body acc, gyro, total acc);
body acc by the UCI gravity separation (3rd-order Butterworth low-pass at
0.3 Hz gives gravity; body = total - gravity; both after a median filter and
a 20 Hz low-pass, as the UCI README describes; zero-phase filtering here);
the published train/test subject split (test subjects 2, 4, 9, 10, 12, 13,
18, 20, 24).  Torch models train with the default `TrainConfig` (Adam 1e-3,
batch 64, no validation, no early stopping) for ``--epochs`` epochs; the
feature learners (rf, xgb, svm, and rf-tsfresh when available) use their
default settings.  Reports test accuracy and macro-F1 as mean ± std over
seeds and the training time per run.  Prints figures; asserts nothing.

Every (model, seed) run is written to ``OUT/runs/<model>[-e<epochs>]/seed-<s>.json``
as soon as it ends, and ``OUT/results.json`` / ``OUT/results.md`` are
rewritten from all finished runs after each one, so an interrupted benchmark
continues where it stopped when started again with the same options.
Torch runs also checkpoint every epoch (``seed-<s>.ckpt/last.pt``) and resume
from it.  ``--budget-min`` stops the benchmark after that many minutes (the
run in progress keeps its finished epochs).

Run::

    .venv/bin/python benchmarks/bench_uci_har.py --time-epoch          # one epoch per torch model
    nice -n 10 .venv/bin/python benchmarks/bench_uci_har.py --models deepconvlstm,stacked-lstm \\
        --seeds 5 --epochs 20 --out runs/bench_uci_har [--budget-min 60]

(needs ../shared/data/hapt or ``--hapt PATH``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, filtfilt, medfilt

TEST_SUBJECTS = {"2", "4", "9", "10", "12", "13", "18", "20", "24"}
UCI = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
#: Published accuracies (%) on UCI HAR, for the table (papers 003 / 004; 004's values read off its figures).
PAPER = {"rf-tsfresh": "our target ≥ 92 (paper 000 has no UCI HAR figure)",
         "svm": "96.67 (003, on the 561 UCI features)", "lstm": "90.91 (003), ≈ 89.7 (004)",
         "stacked-lstm": "92.05 (003)", "cnn1d": "91.52 (003)", "cnn-lstm": "92.37 (003), ≈ 90.6 (004)",
         "convlstm": "≈ 90 (004)"}
TORCH_MODELS = ("deepconvlstm", "stacked-lstm", "cnn-deconv", "lstm", "cnn1d", "cnn-lstm", "convlstm")
FS = 50.0
#: Bump when the window construction changes (invalidates the cached windows).
PROTOCOL_VERSION = 1

log = logging.getLogger("bench_uci_har")


def uci_channels(acc_g: np.ndarray, gyro: np.ndarray) -> np.ndarray:
    """(T, 3) acc in g and (T, 3) gyro -> (T, 9): body acc (g), gyro (rad/s), total acc (g), UCI order."""
    def clean(x):
        x = np.stack([medfilt(x[:, i], 3) for i in range(3)], 1)
        b, a = butter(3, 20.0 / (FS / 2))
        return filtfilt(b, a, x, axis=0)

    total, gyr = clean(acc_g), clean(gyro)
    b, a = butter(3, 0.3 / (FS / 2))
    body = total - filtfilt(b, a, total, axis=0)
    return np.concatenate([body, gyr, total], axis=1)


def build(hapt: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X (N, 128, 9) float32, y (N,) uci_har6 codes, subject (N,) str, test (N,) bool) from HAPT."""
    from virtimu.datasets.base import load_dataset
    from virtimu.labels.maps import get_label_map
    from virtimu.windows import window_labels, window_starts

    lm = get_label_map("hapt12", "uci_har6")
    X, y, subj = [], [], []
    for rec in load_dataset("hapt", hapt):
        acc = rec.select(["waist/acc_x", "waist/acc_y", "waist/acc_z"]) / 9.80665
        gyr = rec.select(["waist/gyro_x", "waist/gyro_y", "waist/gyro_z"])
        sig = uci_channels(acc.astype(np.float64), gyr.astype(np.float64)).astype(np.float32)
        labels = lm.apply(rec.labels)
        starts = window_starts(rec.n_frames, 128, 64)
        wl, _ = window_labels(labels, starts, 128, purity=1.0)
        keep = wl != 0
        X.append(np.stack([sig[s:s + 128] for s in starts[keep]]))
        y.append(wl[keep])
        subj += [rec.subject] * int(keep.sum())
    X, y, subj = np.concatenate(X), np.concatenate(y), np.array(subj)
    test = np.isin(subj, list(TEST_SUBJECTS))
    return X, y, subj, test


def load_or_build(hapt: Path, cache: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`build`, cached in ``cache`` (an .npz beside the results) so reruns skip the filtering."""
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            if int(z["version"]) == PROTOCOL_VERSION:
                return z["X"], z["y"], z["subject"].astype(str), z["test"]
    X, y, subj, test = build(hapt)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.tmp.npz")
        np.savez(tmp, X=X, y=y, subject=subj.astype(str), test=test, version=PROTOCOL_VERSION)
        os.replace(tmp, cache)
    return X, y, subj, test


def feature_names() -> tuple[str, ...]:
    """Feature learners available in this virtimu (rf, xgb, svm; rf-tsfresh when present)."""
    from virtimu.training.run import feature_models

    names = feature_models()
    return tuple(n for n in ("svm", "xgb", "rf", "rf-tsfresh") if n in names) + tuple(
        n for n in names if n not in ("svm", "xgb", "rf", "rf-tsfresh"))


def parse_seeds(text: str) -> list[int]:
    """'5' -> [0, 1, 2, 3, 4]; '0,3,7' -> [0, 3, 7]."""
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    n = int(text)
    if n < 1:
        raise SystemExit(f"error: --seeds {text}: need at least one seed")
    return list(range(n))


def run_dir(out: Path, model: str, epochs: int | None) -> Path:
    """Folder of one model's per-seed records (torch models: one per epoch count)."""
    return out / "runs" / (model if epochs is None else f"{model}-e{epochs}")


class BudgetExceeded(Exception):
    """Raised by the alarm at the end of ``--budget-min``."""


def train_one(name: str, seed: int, epochs: int, data: dict[str, np.ndarray],
              ckpt_dir: Path | None = None) -> dict[str, Any]:
    """Train model ``name`` with ``seed`` on the training subjects, evaluate on the test subjects.

    ckpt_dir: torch models write ``last.pt`` there after every epoch and
    continue from it when it exists (an interrupted run resumes at its last
    finished epoch); ``session.json`` there carries the CPU seconds of
    interrupted sessions.  The folder is removed when the run ends.
    """
    import shutil

    from virtimu.evaluation.metrics import Metrics
    from virtimu.evaluation.report import write_json
    from virtimu.training.config import TrainConfig
    from virtimu.training.learner import TorchLearner
    from virtimu.training.run import feature_learner, feature_models

    is_feature = name in feature_models()
    if is_feature:
        learner = feature_learner(name, {"seed": seed}, FS)
    else:
        learner = TorchLearner(name, None, TrainConfig(epochs=epochs, seed=seed, progress=False))
    before = {"cpu_s": 0.0, "wall_s": 0.0, "sessions": 0}
    if ckpt_dir is not None and (ckpt_dir / "session.json").is_file():
        before = json.loads((ckpt_dir / "session.json").read_text())
    t, c = time.perf_counter(), time.process_time()
    try:
        if is_feature:
            learner.fit(data["Xtr"], data["ytr"])
        else:
            learner.fit(data["Xtr"], data["ytr"], groups=data["gtr"], out_dir=ckpt_dir, resume=ckpt_dir is not None)
        wall_s, cpu_s = time.perf_counter() - t, time.process_time() - c
        t_pred = time.perf_counter()
        pred = learner.predict(data["Xte"])
        predict_s = time.perf_counter() - t_pred
    except BudgetExceeded:
        if ckpt_dir is not None and not is_feature:
            write_json(ckpt_dir / "session.json", {"cpu_s": before["cpu_s"] + time.process_time() - c,
                                                   "wall_s": before["wall_s"] + time.perf_counter() - t,
                                                   "sessions": before["sessions"] + 1})
        raise
    resumed = before["sessions"] > 0
    # wall seconds of the epochs themselves (kept across resumes); feature learners: the fit's wall time
    train_s = float(sum(learner.history.get("seconds", []))) if not is_feature else wall_s
    label_map = {i + 1: n for i, n in enumerate(UCI)}
    metrics = Metrics.compute(data["yte"], pred, label_map)
    if ckpt_dir is not None and ckpt_dir.is_dir():
        shutil.rmtree(ckpt_dir)
    return {"model": name, "seed": int(seed), "epochs": None if is_feature else int(epochs),
            "accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1, "metrics": metrics.to_dict(),
            "train_s": train_s, "train_cpu_s": before["cpu_s"] + cpu_s, "resumed_sessions": before["sessions"],
            "session_wall_s": before["wall_s"] + wall_s, "resumed": resumed, "load_avg_1min": _load(),
            "predict_s": predict_s, "n_train": len(data["ytr"]), "n_test": len(data["yte"]),
            "torch_threads": _torch_threads(), "cpus": os.cpu_count(), "machine": platform.machine(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _load() -> float | None:
    """The 1-minute load average (the benchmark shares its cores with whatever else runs)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def collect(out: Path) -> list[dict[str, Any]]:
    """All finished per-seed records under ``out/runs``."""
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/seed-*.json"))]


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, epochs): mean ± std (population std, %) of accuracy / macro-F1, s per run."""
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["model"], r.get("epochs")), []).append(r)
    order = {n: i for i, n in enumerate(TORCH_MODELS + ("svm", "xgb", "rf", "rf-tsfresh"))}
    rows = []
    for (model, epochs), rs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][0],
                                                                      -(kv[0][1] or 0))):
        acc = 100 * np.array([r["accuracy"] for r in rs])
        f1 = 100 * np.array([r["macro_f1"] for r in rs])
        secs = np.array([r["train_s"] for r in rs])
        cpu = np.array([r.get("train_cpu_s", np.nan) for r in rs], dtype=np.float64)
        rows.append({"model": model, "epochs": epochs, "seeds": sorted(r["seed"] for r in rs), "n": len(rs),
                     "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
                     "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std()),
                     "train_s_mean": float(secs.mean()), "train_s_sum": float(secs.sum()),
                     "train_cpu_s_mean": float(np.nanmean(cpu)) if np.isfinite(cpu).any() else None,
                     "paper": PAPER.get(model, "")})
    return rows


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """Markdown table of `summarise` rows."""
    lines = [("| model | epochs × seeds | accuracy % | macro-F1 % | train s/run (wall) | train CPU s/run "
              "| paper accuracy % |"),
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        ep = "—" if r["epochs"] is None else str(r["epochs"])
        pm = (lambda m, s: f"{m:.2f} ± {s:.2f}") if r["n"] > 1 else (lambda m, s: f"{m:.2f}")
        lines.append(f"| {r['model']} | {ep} × {r['n']} | {pm(r['accuracy_mean'], r['accuracy_std'])} | "
                     f"{pm(r['macro_f1_mean'], r['macro_f1_std'])} | {r['train_s_mean']:.0f} | "
                     f"{'—' if r.get('train_cpu_s_mean') is None else format(r['train_cpu_s_mean'], '.0f')} | "
                     f"{r['paper']} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path) -> list[dict[str, Any]]:
    """Rewrite OUT/results.json and OUT/results.md from the finished records; returns the rows."""
    from virtimu.evaluation.report import write_json
    from virtimu.io.atomic import write_text_atomic

    records = collect(out)
    rows = summarise(records)
    write_json(out / "results.json", {"protocol": "UCI HAR from HAPT, published test subjects",
                                      "std": "population (ddof=0) over seeds", "rows": rows, "runs": records})
    write_text_atomic(out / "results.md", "# UCI HAR (rebuilt from HAPT), test subjects 2, 4, 9, 10, 12, 13, "
                                          "18, 20, 24\n\n" + table_markdown(rows))
    return rows


def time_epochs(models: list[str], data: dict[str, np.ndarray], out: Path) -> dict[str, float]:
    """Seconds of one training epoch (seed 0) per torch model; written to OUT/epoch_times.json."""
    from virtimu.evaluation.report import write_json
    from virtimu.training.config import TrainConfig
    from virtimu.training.learner import TorchLearner

    times, cpu, load = {}, {}, {}
    for name in models:
        learner = TorchLearner(name, None, TrainConfig(epochs=1, seed=0))
        t, c = time.perf_counter(), time.process_time()
        learner.fit(data["Xtr"], data["ytr"])
        times[name], cpu[name], load[name] = time.perf_counter() - t, time.process_time() - c, _load()
        print(f"{name:14s} 1 epoch on {len(data['ytr'])} windows: {times[name]:6.1f} s wall, {cpu[name]:6.1f} s CPU "
              f"(load average {load[name]})", flush=True)
        write_json(out / "epoch_times.json", {"seconds_per_epoch": times, "cpu_seconds_per_epoch": cpu,
                                              "load_avg_1min": load, "n_train": len(data["ytr"]),
                                              "torch_threads": _torch_threads(), "cpus": os.cpu_count()})
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hapt", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "hapt"))
    ap.add_argument("--models", default=None,
                    help=f"comma-separated (default: {','.join(TORCH_MODELS)} and the feature learners)")
    ap.add_argument("--seeds", default="5", help="number of seeds (0..N-1) or a comma-separated list (default 5)")
    ap.add_argument("--epochs", type=int, default=40, help="epochs of the torch models (default 40)")
    ap.add_argument("--out", default="runs/bench_uci_har", help="results folder (default runs/bench_uci_har)")
    ap.add_argument("--budget-min", dest="budget_min", type=float, default=None,
                    help="stop after this many minutes (finished runs and epochs are kept; rerun to continue)")
    ap.add_argument("--time-epoch", dest="time_epoch", action="store_true",
                    help="only time one training epoch of each torch model")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's choice; use 1 on a shared, oversubscribed machine)")
    ap.add_argument("--quick", action="store_true", help="1 seed, 2 epochs, 2000 training windows, into OUT/quick")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) / ("quick" if args.quick else "")
    t0 = time.perf_counter()
    X, y, subj, test = load_or_build(Path(args.hapt), Path(args.out) / "uci_har_windows.npz")
    print(f"UCI HAR from HAPT: {len(X)} windows ({(~test).sum()} train / {test.sum()} test), "
          f"{len(set(subj))} subjects, ready in {time.perf_counter() - t0:.1f} s", flush=True)
    data = {"Xtr": X[~test], "ytr": y[~test], "gtr": subj[~test], "Xte": X[test], "yte": y[test]}
    models = args.models.split(",") if args.models else list(TORCH_MODELS) + list(feature_names())
    seeds, epochs = parse_seeds(args.seeds), args.epochs
    if args.quick:
        seeds, epochs = seeds[:1], 2
        data.update(Xtr=data["Xtr"][:2000], ytr=data["ytr"][:2000], gtr=data["gtr"][:2000])
    from virtimu.training.run import feature_models

    unknown = [m for m in models if m not in TORCH_MODELS and m not in feature_models()]
    if unknown:
        raise SystemExit(f"error: unknown models {unknown}; choose from {list(TORCH_MODELS) + list(feature_models())}")
    if args.time_epoch:
        time_epochs([m for m in models if m in TORCH_MODELS], data, out)
        return 0
    start = time.perf_counter()
    stopped = False
    if args.budget_min is not None:
        import signal

        def _alarm(signum, frame):
            raise BudgetExceeded

        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(max(1, int(60 * args.budget_min)))
    from virtimu.evaluation.report import write_json

    try:
        for name in models:
            ep = None if name in feature_models() else epochs
            folder = run_dir(out, name, ep)
            for seed in seeds:
                path = folder / f"seed-{seed}.json"
                if path.is_file():
                    continue
                record = train_one(name, seed, epochs, data, None if ep is None else folder / f"seed-{seed}.ckpt")
                write_json(path, record)
                print(f"{name:14s} seed {seed}: acc {100 * record['accuracy']:6.2f}  macro-F1 "
                      f"{100 * record['macro_f1']:6.2f}  train {record['train_s']:7.1f} s wall, "
                      f"{record['train_cpu_s']:7.1f} s CPU  (elapsed {(time.perf_counter() - start) / 60:5.1f} min)",
                      flush=True)
                write_results(out)
    except BudgetExceeded:
        stopped = True
    finally:
        if args.budget_min is not None:
            signal.alarm(0)
    rows = write_results(out)
    print(table_markdown(rows))
    if stopped:
        print(f"time budget of {args.budget_min:g} min reached; rerun the same command to continue")
    print(f"results: {out / 'results.md'}, {out / 'results.json'}; wall time {(time.perf_counter() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
