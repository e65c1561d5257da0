"""SelfPAB on real UCI HAPT: downstream macro-F1 with and without masked-spectrogram pretraining.

Usage::

    nice -n 10 .venv/bin/python scripts/selfpab_hapt_study.py --out docs/results/selfpab_hapt \\
        [--work runs/selfpab_hapt] [--hapt ../shared/data/hapt] [--config cpu] [--seeds 0 1 2] \\
        [--budgets 10 25 50 100 200 all] [--quick] [section.key=value ...]

Protocol (every number in the report comes from this run):

1. Real data: ``virtimu ingest hapt`` into ``WORK/hapt.zarr``; the waist
   phone's three accelerometer axes, 50 Hz, converted to g.
2. Synthetic data: randomised clips of the parametric HAPT generator
   (`virtimu.motion.parametric`; the activities it implements at run time),
   each as long as one pretraining window, synthesised for the virtual
   ``hapt`` waist phone (smartphone device model, 1 cm / 5 deg mounting
   jitter) into ``WORK/synth.zarr``.
3. Pretraining (``--config``, default ``cpu``): one upstream on the
   unlabelled recordings of the 21 real HAPT *training* subjects (the test
   subjects' signals are never seen), one on the synthetic recordings.
4. Downstream: windows of 128 samples (2.56 s), 50 % overlap, majority label
   covering >= 60 % of the window, null windows dropped (the synthetic ->
   HAPT pipeline's windowing); train on the training subjects with 10, 25,
   50, 100, 200 windows per class and all of them (nested per-class
   samples), test on the published UCI HAR test subjects 2, 4, 9, 10, 12, 13,
   18, 20, 24; three arms with identical data, steps and seeds: no
   pretraining (the same network trained end to end), pretrained on real
   HAPT, pretrained on synthetic data (upstream frozen until
   ``downstream.unfreeze_step``, then fine-tuned).  Window macro-F1 over the
   12 classes.
5. ``OUT/results.json`` (every run), ``OUT/report.md`` (tables generated
   from it, paired comparison per budget), ``OUT/f1_vs_labels.png``,
   ``OUT/pretrain_loss.png``.  ``--report-only`` rewrites the last two
   kinds from an existing ``results.json``.

Finished runs are kept in ``WORK/rows.json`` and skipped when the script is
run again, and pretraining resumes from its checkpoints.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from virtimu import __version__  # noqa: E402
from virtimu.evaluation.metrics import Metrics  # noqa: E402
from virtimu.evaluation.plots import plot_metric_vs  # noqa: E402
from virtimu.evaluation.report import write_json  # noqa: E402
from virtimu.io.atomic import write_text_atomic  # noqa: E402
from virtimu.selfpab.config import SelfPABConfig, apply_overrides, load_config  # noqa: E402
from virtimu.selfpab.data import AccData, from_recordings  # noqa: E402
from virtimu.selfpab.downstream import SelfPABDownstream  # noqa: E402
from virtimu.selfpab.pretrain import load_upstream, pretrain  # noqa: E402
from virtimu.selfpab.run import per_class_sample  # noqa: E402

log = logging.getLogger("selfpab_hapt_study")

TEST_SUBJECTS = ("2", "4", "9", "10", "12", "13", "18", "20", "24")  # UCI HAR's published test subjects
ARMS = ("scratch", "pretrained-real", "pretrained-synthetic")
ARM_LABELS = {"scratch": "no pretraining", "pretrained-real": "pretrained on real HAPT (unlabelled)",
              "pretrained-synthetic": "pretrained on synthetic waist data"}
WINDOW, STEP, PURITY = 128, 64, 0.6

QUICK = {"seeds": [0], "budgets": ["10", "all"], "synthetic_clips": 24, "real_subjects": ["1", "3", "5", "2"],
         "overrides": {"pretrain.steps": 20, "pretrain.checkpoint_every": 10, "downstream.steps": 20,
                       "downstream.unfreeze_step": 15}}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ----------------------------------------------------------------------------- data


def real_store(hapt: Path, work: Path) -> Path:
    from virtimu.datasets.ingest import ingest

    store = work / "hapt.zarr"
    if not (store / "recordings").exists():
        ingest("hapt", hapt, store, progress=False)
    return store


def synthetic_store(work: Path, n_clips: int, seconds: float, seed: int) -> tuple[Path, dict[str, Any]]:
    """Parametric HAPT clips synthesised for the virtual waist phone (acc only) into WORK/synth.zarr."""
    from virtimu.body.files import load_body_model
    from virtimu.motion import parametric
    from virtimu.sensors.placement import attach_sites, jitter_sites, resolve_sites
    from virtimu.sensors.synth import SynthConfig, synthesize
    from virtimu.store import RecordingStore

    store = work / "synth.zarr"
    rs = RecordingStore(store, mode="a")
    done = {name for _, name in rs.list("parametric")}
    body, sites = load_body_model(None), resolve_sites(None, preset="hapt")
    available = []
    for act in parametric.HAPT_ACTIVITIES:
        try:
            parametric.generate_clip(act, 0, fps=50.0, duration_s=2.0)
            available.append(act)
        except NotImplementedError:
            continue
    per_act = max(1, math.ceil(n_clips / len(available)))
    t0 = time.perf_counter()
    for a_i, act in enumerate(available):
        for i in range(per_act):
            name = f"{act.lower()}_{i:04d}"
            if name in done:
                continue
            clip_seed = int(np.random.SeedSequence([seed, a_i, i]).generate_state(1)[0] % 2**31)
            clip = parametric.generate_clip(act, clip_seed, fps=50.0, duration_s=seconds)
            motion = clip.to_motion()
            att = attach_sites(body, jitter_sites(sites, 0.01, 5.0, seed=clip_seed), betas=motion.betas)
            rec = synthesize(motion, body, att, SynthConfig(fps=50.0, signals=("acc",), device="smartphone",
                                                            seed=clip_seed), source="parametric")
            rec.name = name
            rs.write(rec, overwrite=True)
    info = {"activities": available, "clips_per_activity": per_act, "clip_seconds": seconds,
            "clips": per_act * len(available), "generation_seconds": time.perf_counter() - t0,
            "device": "smartphone", "jitter": {"offset_m": 0.01, "rotation_deg": 5.0}}
    return store, info


# ----------------------------------------------------------------------------- pretraining


def run_pretraining(name: str, slug: str, data: AccData, cfg: SelfPABConfig, work: Path) -> dict[str, Any]:
    """Pretrain (or resume) the upstream in ``WORK/upstream_<slug>``; its figures (kept in study.json there)."""
    out = work / f"upstream_{slug}"
    stats = out / "study.json"
    ckpt = out / "checkpoint.pt"
    before = int(torch.load(ckpt, map_location="cpu", weights_only=True)["step"]) if ckpt.exists() else 0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    res = pretrain(data, cfg, out, resume=True, progress=True, provenance={"study": "selfpab_hapt", "data": name})
    spent = json.loads(stats.read_text()) if stats.exists() else {"wall_seconds": 0.0, "cpu_seconds": 0.0}
    if res.step > before:  # trained in this call: add its time (a resumed run sums its parts)
        spent = {"wall_seconds": spent["wall_seconds"] + time.perf_counter() - t0,
                 "cpu_seconds": spent["cpu_seconds"] + time.process_time() - cpu0}
        write_json(stats, spent)
    summary = json.loads((out / "pretrain.json").read_text())
    return {"name": name, "dir": str(out), "windows": summary["windows"], "steps": res.step,
            "train_loss": res.train_loss, "best_val_loss": res.best_val_loss,
            "first_loss": float(np.mean(res.history["loss"][:20])), "frames_per_s": res.frames_per_s,
            "wall_seconds": spent["wall_seconds"], "cpu_seconds": spent["cpu_seconds"],
            "val": res.history["val"], "loss": res.history["loss"]}


# ----------------------------------------------------------------------------- downstream


def downstream_row(arm: str, budget: str, seed: int, train: AccData, test: AccData, cfg: SelfPABConfig,
                   upstream) -> dict[str, Any]:
    n = None if budget == "all" else int(budget)
    idx = per_class_sample(train.y, n, seed)
    dcfg = dataclasses.replace(cfg, downstream=dataclasses.replace(cfg.downstream, seed=int(seed)))
    model = SelfPABDownstream(dcfg, upstream, channels=train.channels, label_map=train.label_map)
    cpu0 = time.process_time()
    model.fit(train.X[idx], train.y[idx])
    pred = model.predict(test.X)
    m = Metrics.compute(test.y, pred, train.label_map, labels=sorted(c for c in train.label_map if c != 0))
    return {"arm": arm, "budget": budget, "seed": int(seed), "n_windows": int(idx.size),
            "macro_f1": m.macro_f1, "accuracy": m.accuracy,
            "per_class_f1": {k: v["f1"] for k, v in m.per_class.items()},
            "train_seconds": model.train_seconds, "cpu_seconds": time.process_time() - cpu0,
            "unfrozen_at": model.history.get("unfrozen_at"),
            "final_train_loss": float(np.mean(model.history["loss"][-20:]))}


def _scratch_settings(config: dict[str, Any]) -> str:
    """The settings a run without pretraining depends on (not pretraining, masking or the unfreeze step)."""
    kept = {k: v for k, v in config.items() if k not in ("pretrain", "masking")}
    kept["downstream"] = {k: v for k, v in config["downstream"].items() if k != "unfreeze_step"}
    return json.dumps(kept, sort_keys=True)


def same_settings(row: dict[str, Any], key: str) -> bool:
    """Whether a cached run was made with the settings ``key`` (a scratch run: with its relevant part)."""
    if row.get("config_key") == key:
        return True
    if row.get("arm") != "scratch" or "config_key" not in row:
        return False
    return _scratch_settings(json.loads(row["config_key"])) == _scratch_settings(json.loads(key))


# ----------------------------------------------------------------------------- report


def paired(deltas: list[float], alpha: float = 0.05) -> dict[str, Any]:
    """Two-sided paired t-test of per-seed differences; 'helped' / 'hurt' / 'inconclusive'."""
    d = np.asarray(deltas, dtype=np.float64)
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    if n < 2:
        p = float("nan")
    elif sd == 0.0:
        p = 1.0 if mean == 0.0 else 0.0
    else:
        from scipy.stats import t as t_dist

        p = float(2 * t_dist.sf(abs(mean / (sd / math.sqrt(n))), df=n - 1))
    word = "inconclusive"
    if np.isfinite(p) and p < alpha:
        word = "helped" if mean > 0 else "hurt"
    return {"mean": mean, "std": sd, "p": p, "wins": int(np.sum(d > 0)), "n": int(n), "verdict": word}


def summarise(rows: list[dict[str, Any]], budgets: list[str], seeds: list[int]) -> dict[str, Any]:
    table = {}
    for b in budgets:
        entry: dict[str, Any] = {}
        by = {(r["arm"], r["seed"]): r for r in rows if r["budget"] == b}
        for arm in ARMS:
            v = [by[(arm, s)]["macro_f1"] for s in seeds if (arm, s) in by]
            entry[arm] = {"mean": float(np.mean(v)) if v else None,
                          "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                          "n": len(v), "n_windows": float(np.mean([by[(arm, s)]["n_windows"] for s in seeds
                                                                    if (arm, s) in by])) if v else None}
        for arm in ARMS[1:]:
            common = [s for s in seeds if (arm, s) in by and ("scratch", s) in by]
            entry[f"delta_{arm}"] = paired([by[(arm, s)]["macro_f1"] - by[("scratch", s)]["macro_f1"]
                                            for s in common])
        table[b] = entry
    return table


def _pct(entry: dict[str, Any]) -> str:
    if entry.get("mean") is None:
        return "—"
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"


def _delta(d: dict[str, Any]) -> str:
    if not d["n"]:
        return "—"
    p = "n/a" if d["p"] is None or not np.isfinite(d["p"]) else f"{d['p']:.3f}"  # NaN is null in JSON
    return f"{100 * d['mean']:+.1f} (p {p}, {d['wins']}/{d['n']} seeds better): {d['verdict']}"


def write_report(out: Path, results: dict[str, Any]) -> None:
    table, budgets = results["summary"], results["budgets"]
    pre = {p["name"]: p for p in results["pretraining"]}
    ds = results["config"]["downstream"]
    lines = [
        "# SelfPAB on real UCI HAPT: with vs without pretraining",
        "",
        f"Generated by `scripts/selfpab_hapt_study.py` from `results.json` (virtimu {results['virtimu_version']}, "
        f"commit `{results['git_commit']}`, config `{results['config_name']}`, seeds {results['seeds']}, "
        f"{results['torch_threads']} torch thread(s), {results['machine']}).",
        "",
        f"Downstream: {ds['steps']} steps of {ds['batch_size']} windows, Adam {ds['lr']:g} decaying by "
        f"{ds['decay']:g}; the pretrained upstream frozen for the first {ds['unfreeze_step']} "
        "steps, then fine-tuned; the network without pretraining trained end to end throughout.",
        "",
        "Window macro-F1 (%) over the 12 HAPT classes on the UCI HAR test subjects "
        f"{', '.join(TEST_SUBJECTS)}; mean ± std over seeds; windows of {WINDOW} samples (2.56 s), "
        f"{100 * (1 - STEP / WINDOW):.0f} % overlap, purity {PURITY}; waist accelerometer (3 axes, g).",
        "",
        "| labels per class | windows | no pretraining | pretrained on real HAPT | Δ real | "
        "pretrained on synthetic | Δ synthetic |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for b in budgets:
        e = table[b]
        nw = e["scratch"]["n_windows"]
        lines.append(f"| {b} | {nw:.0f} | {_pct(e['scratch'])} | {_pct(e['pretrained-real'])} | "
                     f"{_delta(e['delta_pretrained-real'])} | {_pct(e['pretrained-synthetic'])} | "
                     f"{_delta(e['delta_pretrained-synthetic'])} |")
    verdicts = {arm: [table[b][f"delta_{arm}"]["verdict"] for b in budgets] for arm in ARMS[1:]}
    lines += ["", "Δ = pretrained − no pretraining (percentage points), paired over seeds (two-sided t-test, "
              "α = 0.05): 'helped' / 'hurt' when significant, else 'inconclusive'.", ""]
    for arm, v in verdicts.items():
        counts = {w: v.count(w) for w in ("helped", "hurt", "inconclusive")}
        lines.append(f"- {ARM_LABELS[arm]}: helped at {counts['helped']}, hurt at {counts['hurt']}, "
                     f"inconclusive at {counts['inconclusive']} of {len(v)} label budgets.")
    lines += ["", "## Pretraining", "",
              "| data | windows (train / val) | samples per window | steps | first loss | final loss | "
              "best val loss | frames/s (wall) | frames per CPU s | wall s | CPU s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, p in pre.items():
        w = p["windows"]
        bv = "—" if p["best_val_loss"] is None else f"{p['best_val_loss']:.4f}"
        frames = p["steps"] * results["config"]["pretrain"]["batch_size"] * w["frames_per_batch_item"]
        per_cpu = f"{frames / p['cpu_seconds']:,.0f}" if p["cpu_seconds"] > 0 else "—"
        lines.append(f"| {name} | {w['train']} / {w['val']} | {w['samples']} | {p['steps']} | {p['first_loss']:.4f} | "
                     f"{p['train_loss']:.4f} | {bv} | {p['frames_per_s']:,.0f} | {per_cpu} | {p['wall_seconds']:.0f} | "
                     f"{p['cpu_seconds']:.0f} |")
    syn = results["synthetic"]
    lines += ["", "Loss: masked L1 on normalised log-magnitude spectrograms (first = mean of the first 20 steps, "
              "final = mean of the last 50). Throughput: spectrogram frames through forward + backward per "
              "second of training (wall clock, on a machine shared with other jobs), and per CPU second of the "
              "whole pretraining (validation, checkpoints and spectrograms included).", "",
              f"Synthetic data: {syn['clips']} clips of {syn['clip_seconds']:.0f} s "
              f"({', '.join(syn['activities'])}; the activities the parametric generator implemented when this ran), "
              f"smartphone device model, mounting jitter 1 cm / 5°.",
              f"Real pretraining data: the unlabelled recordings of the {len(results['train_subjects'])} training "
              "subjects only.",
              "", "## Settings", "", "```json", json.dumps(results["config"], indent=1), "```", "",
              f"Downstream cost: {results['downstream_cpu_seconds']:.0f} CPU s over the {len(results['rows'])} runs "
              f"of the table. The invocation that wrote this report: {results['total_cpu_seconds']:.0f} CPU s, "
              f"{results['total_wall_seconds']:.0f} s wall (runs and pretraining finished by an earlier "
              "invocation are reused, not repeated).", ""]
    write_text_atomic(out / "report.md", "\n".join(lines))


def plot(out: Path, results: dict[str, Any]) -> None:
    table, budgets = results["summary"], results["budgets"]
    x = [table[b]["scratch"]["n_windows"] / max(1, results["n_classes"]) for b in budgets]
    mean = [[100 * (table[b][a]["mean"] or 0.0) for b in budgets] for a in ARMS]
    std = [[100 * table[b][a]["std"] for b in budgets] for a in ARMS]
    plot_metric_vs(x, mean, std, out / "f1_vs_labels.png", label=[ARM_LABELS[a] for a in ARMS],
                   xlabel="labelled windows per class (all = mean per class)", ylabel="macro-F1 (%)",
                   title="SelfPAB on UCI HAPT (waist acc, held-out subjects)", logx=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for p in results["pretraining"]:
        loss = np.asarray(p["loss"], dtype=np.float64)
        k = min(25, loss.size)
        ax.plot(np.arange(k, loss.size + 1), np.convolve(loss, np.ones(k) / k, mode="valid"),
                label=f"{p['name']}: train ({k}-step mean)")
        if p["val"]:
            ax.plot([v["step"] for v in p["val"]], [v["loss"] for v in p["val"]], "o--",
                    label=f"{p['name']}: validation")
    ax.set_xlabel("step")
    ax.set_ylabel("masked L1 (normalised log-magnitude)")
    ax.set_title("SelfPAB pretraining")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(out / "pretrain_loss.png", dpi=120, bbox_inches="tight")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "selfpab_hapt")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "selfpab_hapt")
    ap.add_argument("--hapt", type=Path, default=REPO.parent / "shared" / "data" / "hapt")
    ap.add_argument("--config", default="cpu", help="SelfPAB preset or YAML (default cpu)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budgets", nargs="+", default=["10", "25", "50", "100", "200", "all"])
    ap.add_argument("--synthetic-clips", dest="synthetic_clips", type=int, default=600)
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds) to check the pipeline")
    ap.add_argument("--report-only", dest="report_only", action="store_true",
                    help="rewrite report.md and the plots from OUT/results.json, run nothing")
    ap.add_argument("overrides", nargs="*", help="section.key=value SelfPAB settings")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        write_report(args.out, results)
        plot(args.out, results)
        print((args.out / "report.md").read_text())
        return 0
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    cfg = load_config(args.config)
    overrides = dict(QUICK["overrides"]) if args.quick else {}
    overrides.update(dict(o.split("=", 1) for o in args.overrides))
    cfg = apply_overrides(cfg.with_n_axes(3), overrides)
    seeds = QUICK["seeds"] if args.quick else args.seeds
    budgets = QUICK["budgets"] if args.quick else args.budgets
    n_clips = QUICK["synthetic_clips"] if args.quick else args.synthetic_clips
    args.work.mkdir(parents=True, exist_ok=True)
    if cfg.pretrain.threads:
        torch.set_num_threads(cfg.pretrain.threads)
    if not args.hapt.exists():
        print(f"error: UCI HAPT folder {args.hapt} does not exist (get it with `virtimu data fetch hapt`)",
              file=sys.stderr)
        return 2

    hapt = real_store(args.hapt, args.work)
    subjects = sorted({str(s) for s in range(1, 31)}, key=int)
    if args.quick:
        subjects = QUICK["real_subjects"]
    train_subjects = [s for s in subjects if s not in TEST_SUBJECTS]
    test_subjects = [s for s in subjects if s in TEST_SUBJECTS]
    pc = cfg.pretrain
    seconds = pc.window_length / cfg.spectrogram.fs
    syn_store, syn_info = synthetic_store(args.work, n_clips, seconds + 0.2, seed=2024)

    real_pre = from_recordings(hapt, "waist/acc_*", pc.window_length, pc.overlap, fs=cfg.spectrogram.fs,
                               subjects=train_subjects)
    syn_pre = from_recordings(syn_store, "waist/acc_*", pc.window_length, pc.overlap, fs=cfg.spectrogram.fs)
    pretraining = [run_pretraining("real HAPT (training subjects)", "real", real_pre, cfg, args.work),
                   run_pretraining("synthetic (parametric clips)", "synthetic", syn_pre, cfg, args.work)]
    upstreams = {"pretrained-real": load_upstream(Path(pretraining[0]["dir"])),
                 "pretrained-synthetic": load_upstream(Path(pretraining[1]["dir"]))}

    labelled = from_recordings(hapt, "waist/acc_*", WINDOW, 1 - STEP / WINDOW, fs=cfg.spectrogram.fs,
                               purity=PURITY, subjects=subjects)
    labelled = labelled.subset(labelled.y != 0)
    train = labelled.subset(np.isin(labelled.subject, train_subjects))
    test = labelled.subset(np.isin(labelled.subject, test_subjects))
    log.info("downstream: %d training windows, %d test windows", len(train), len(test))

    rows_path = args.work / ("rows_quick.json" if args.quick else "rows.json")
    all_rows: list[dict[str, Any]] = json.loads(rows_path.read_text()) if rows_path.exists() else []
    key = json.dumps(cfg.to_dict(), sort_keys=True)
    rows = [r for r in all_rows if same_settings(r, key)]
    done = {(r["arm"], r["budget"], r["seed"]) for r in rows}
    todo = [(a, b, s) for b in budgets for s in seeds for a in ARMS if (a, b, s) not in done]
    for i, (arm, budget, seed) in enumerate(todo):
        row = downstream_row(arm, budget, seed, train, test, cfg, upstreams.get(arm))
        row["config_key"] = key
        rows.append(row)
        all_rows.append(row)
        write_json(rows_path, all_rows)
        log.info("[%d/%d] %s budget %s seed %d: macro-F1 %.4f (%.0f s)", i + 1, len(todo), arm, budget, seed,
                 row["macro_f1"], row["train_seconds"])
    rows = [r for r in rows if r["budget"] in budgets and r["seed"] in seeds]
    results = {
        "virtimu_version": __version__, "git_commit": git_commit(), "config_name": args.config,
        "config": cfg.to_dict(), "seeds": seeds, "budgets": budgets, "quick": bool(args.quick),
        "test_subjects": test_subjects, "train_subjects": train_subjects,
        "windows": {"length": WINDOW, "step": STEP, "purity": PURITY, "train": len(train), "test": len(test)},
        "n_classes": int(len(np.unique(train.y))), "label_map": train.label_map,
        "synthetic": syn_info, "pretraining": pretraining, "rows": [{k: v for k, v in r.items() if k != "config_key"}
                                                                    for r in rows],
        "summary": summarise(rows, budgets, seeds), "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores",
        "downstream_cpu_seconds": float(sum(r["cpu_seconds"] for r in rows)),
        "total_cpu_seconds": time.process_time() - t_cpu, "total_wall_seconds": time.perf_counter() - t_wall,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", results)
    write_report(args.out, results)
    plot(args.out, results)
    print((args.out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
