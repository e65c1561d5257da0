"""Synthetic -> HARTH / HAR70+: virtual back + thigh accelerometers from AMASS, pre-train, fine-tune LOSO.

Steps (settings in pipelines/configs/synthetic_to_harth.yaml):

1. synthesise AMASS with HARTH's two sensors (lower back, right thigh; the
   ``harth`` preset's axis signs) at 50 Hz, label it with the 12 synthetic
   categories, cut windows (5 s, 50 % overlap) and drop null windows and those
   the acceleration-based filter rejects;
2. pre-train on the synthetic data, one or more models (``pretrain:
   [deepconvlstm, selfpab]``):

   - ``deepconvlstm``: a DeepConvLSTM classifier on all synthetic windows
     and their labels;
   - ``selfpab``: the SelfPAB transformer upstream (paper 002,
     `virtimu.selfpab.pretrain.pretrain`; preset ``selfpab.config``, ``cpu``
     by default, with the ``selfpab:`` block's per-section settings on top)
     by masked-spectrogram reconstruction, without labels, on the synthetic
     windows (``selfpab.data: windows``) or on windows of
     ``pretrain.window_length`` samples cut from the synthetic recordings
     (``recordings``); accelerations in g, as the paper;

3. per target (HARTH, HAR70+): leave-one-subject-out with validation
   subjects for early stopping; per fold the pre-trained DeepConvLSTM gets a
   new head and is fine-tuned on the training subjects
   (``deepconvlstm-pretrained``), and a SelfPAB downstream classifier
   (`virtimu.selfpab.run.run_downstream`: weighted layer sum + MLP per
   spectrogram frame, upstream frozen for the first ``unfreeze_step``
   steps) is trained on the same training subjects' windows
   (``selfpab-pretrained``; it has no early stopping, so the validation
   subjects are unused); baselines from paper 002: DeepConvLSTM trained on
   the target only, XGBoost on window features;
4. macro-F1 / accuracy per held-out subject (all models on the same target
   windows), mean ± std per (target, model) beside paper 002's Tables 3-4
   (``selfpab-pretrained`` beside the paper's SelfPAB), per-subject plot,
   confusion matrices, runs.csv, results.json, report.md.

Run: ``python pipelines/synthetic_to_harth.py --data amass=PATH --data harth=PATH --data har70plus=PATH``;
``--quick`` runs a CI-sized version on generated stand-in data.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.datasets.fixtures import write_amass_fixture, write_har70plus_fixture, write_harth_fixture
from virtimu.evaluation.plots import plot_confusion, plot_metric_vs
from virtimu.evaluation.report import results_table_markdown
from virtimu.evaluation.splits import loso
from virtimu.labels.apply import label_store
from virtimu.pipelines import common
from virtimu.pipelines.common import ConfigError, DataError, RunLog, markdown_table
from virtimu.training.config import TrainConfig
from virtimu.training.learner import TorchLearner

NAME = "synthetic_to_harth"
CONFIG = Path(__file__).resolve().parent / "configs" / f"{NAME}.yaml"
DATASETS = ("amass", "harth", "har70plus", "babel")
TARGET_WRITERS = {"harth": write_harth_fixture, "har70plus": write_har70plus_fixture}
PRETRAINED, SCRATCH, XGB = "deepconvlstm-pretrained", "deepconvlstm", "xgb"
SELFPAB = "selfpab-pretrained"
#: Pre-training models (``pretrain:``) -> the model name of their fine-tuned rows.
PRETRAIN_MODELS = {"deepconvlstm": PRETRAINED, "selfpab": SELFPAB}
#: Our rows shown beside a paper-002 figure of another model name (ours -> paper's).
PAPER_COUNTERPART = {SELFPAB: "selfpab"}
#: ``selfpab.data``: what the SelfPAB upstream pre-trains on.
SELFPAB_DATA = ("windows", "recordings")
#: Keys of the ``selfpab:`` block that are not `SelfPABConfig` sections.
_SELFPAB_KEYS = ("config", "data")

log = logging.getLogger(NAME)


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; returns the exit code (2 with ``error: ...`` on bad settings or data)."""
    return common.guarded(lambda: _run(argv))


def _run(argv: list[str] | None) -> int:
    # targets not listed in the config are not needed: data_root below checks the listed ones
    run = common.start(NAME, argv, __doc__, DATASETS, CONFIG, optional=("babel", *TARGET_WRITERS))
    cfg = run.config
    pretrain = pretrain_models(cfg.get("pretrain", "deepconvlstm"))
    spab = selfpab_config(cfg, run.seed) if "selfpab" in pretrain else None
    targets = list(cfg.get("targets") or [])
    unknown = [t for t in targets if t not in TARGET_WRITERS]
    if unknown or not targets:
        raise ConfigError(f"targets: {targets}; choose one or more of {sorted(TARGET_WRITERS)}")
    fixtures = cfg.get("fixtures") or {}
    store = run.work / "store.zarr"
    win = common.require(cfg, "windows")
    labels = cfg.get("labels") or {}
    results: dict[str, Any] = {}

    # data first: a missing folder stops the run before any work
    amass = common.data_root(run, "amass", write_amass_fixture, **(fixtures.get("amass") or {}))
    roots = {t: common.data_root(run, t, TARGET_WRITERS[t], **(fixtures.get(t) or {})) for t in targets}

    # 1. synthetic windows
    results["synthesis"] = common.synthesize_amass(run, amass, common.require(cfg, "synthesis"), store, "amass")
    babel = common.data_root(run, "babel") if run.data.get("babel") else None
    results["labels"] = label_store(store, rules=labels.get("rules"), babel=babel, overrides=labels.get("overrides"),
                                    label_space=labels.get("space", "synthetic12"), sources=["amass"]).to_dict()
    synth, results["synthetic_windows"] = common.window_set(run, store, ["amass"], win, "synthetic",
                                                            label_filter=labels.get("filter"))
    if len(synth.class_counts()) < 2:
        raise DataError(f"synthetic windows have {len(synth.class_counts())} class(es) {synth.class_counts()}")

    # 2. pre-training
    pre: dict[str, Any] = {}
    results["pretrain"] = {}
    if "deepconvlstm" in pretrain:
        t0 = time.perf_counter()
        dcl = common.make_learner("deepconvlstm", cfg.get("model_config"), common.require(cfg, "pretrain_train"),
                                  synth.fs, run.seed)
        dcl.fit(synth.X, synth.y, label_map=synth.label_map, channels=synth.channels,
                provenance={"dataset": "synthetic (AMASS)", "windows": len(synth)})
        pre["deepconvlstm"] = dcl.save(run.work / "checkpoints" / "pretrained-deepconvlstm.pt")
        results["pretrain"]["deepconvlstm"] = {
            "model": "deepconvlstm", "checkpoint": str(pre["deepconvlstm"]), "windows": len(synth),
            "seconds": time.perf_counter() - t0, "classes": synth.class_counts()}
    if spab is not None:
        pre["selfpab"], results["pretrain"]["selfpab"] = _pretrain_selfpab(run, store, *spab)

    # 3. targets
    runlog = RunLog()
    for target in targets:
        results[f"{target}_ingest"] = common.ingest_dataset(target, roots[target], store)
        ws, results[f"{target}_windows"] = common.window_set(run, store, [target], win, target)
        if synth.channels != ws.channels:
            raise DataError(f"{target} windows have channels {ws.channels}, the synthetic ones {synth.channels}")
        acc = _selfpab_windows(store, target, ws, pre["selfpab"].config) if "selfpab" in pre else None
        for r in range(int(cfg.get("repeats", 1))):
            _loso(run, target, ws, acc, pre, run.seed + r, r, runlog)

    # 4. outputs
    rows = runlog.aggregate()
    paper = common.paper_figures("002")
    paper["table"] = with_counterparts(paper["table"])
    plots = _plots(run, runlog, targets)
    results.update({"aggregates": rows, "plots": plots, "paper": {k: v for k, v in paper.items() if k != "table"}})
    common.finish(run, results, _report(run, rows, paper, plots, results, targets), runlog)
    return 0


def pretrain_models(value: Any) -> list[str]:
    """``pretrain:`` as a list of model names (a single name or a list; order kept, no duplicates)."""
    names = [value] if isinstance(value, str) else list(value or [])
    unknown = [n for n in names if n not in PRETRAIN_MODELS]
    if unknown or not names or len(set(names)) != len(names):
        raise ConfigError(f"pretrain: {value!r}; give one or more distinct names of {sorted(PRETRAIN_MODELS)} "
                          "(e.g. pretrain=[deepconvlstm,selfpab])")
    return names


def selfpab_config(cfg: dict, seed: int):
    """(`SelfPABConfig`, data mode) from the ``selfpab:`` block: preset ``config`` + per-section settings.

    The block holds ``config`` (a bundled preset name or a SelfPAB YAML
    file), ``data`` (one of `SELFPAB_DATA`) and optional sections
    ``spectrogram``, ``masking``, ``upstream``, ``pretrain``, ``downstream``
    of {key: value} applied on top (`virtimu.selfpab.config.apply_overrides`).
    ``pretrain.seed`` defaults to the pipeline's seed.  ConfigError names
    the offending setting.
    """
    from virtimu.selfpab.config import apply_overrides, load_config

    block = dict(cfg.get("selfpab") or {})
    mode = block.get("data", "windows")
    if mode not in SELFPAB_DATA:
        raise ConfigError(f"selfpab.data: {mode!r}; choose one of {list(SELFPAB_DATA)}")
    sets: dict[str, Any] = {"pretrain.seed": int(seed)}
    for section, values in block.items():
        if section in _SELFPAB_KEYS:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"selfpab.{section}: expected a mapping of settings, got {values!r}")
        sets.update({f"{section}.{k}": v for k, v in values.items()})
    try:
        spcfg = apply_overrides(load_config(block.get("config") or "cpu"), sets)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"selfpab: {exc}") from None
    return spcfg, mode


def with_counterparts(table: dict) -> dict:
    """Paper figures keyed (model, dataset), plus each paper figure again under our row's name
    (`PAPER_COUNTERPART`), so that `results_table_markdown` prints it beside ours."""
    out = dict(table)
    for ours, theirs in PAPER_COUNTERPART.items():
        for (model, dataset), values in table.items():
            if model == theirs:
                out[(ours, dataset)] = {**values, "source": f"{values.get('source', '')}, pre-trained on real "
                                                            "HUNT4 data"}
    return out


@contextmanager
def _torch_threads() -> Iterator[None]:
    """Restore torch's thread count afterwards (the SelfPAB configs set their own)."""
    import torch

    n = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(n)


@dataclasses.dataclass
class _SelfPAB:
    """A pre-trained SelfPAB upstream and the config its downstream runs use."""

    upstream: Any
    config: Any
    path: Path


def _pretrain_selfpab(run, store: Path, spcfg, mode: str) -> tuple[_SelfPAB, dict[str, Any]]:
    """Pre-train the SelfPAB upstream on the synthetic accelerometer data (no labels); returns it and its summary."""
    from virtimu.selfpab.data import from_recordings, from_window_set
    from virtimu.selfpab.pretrain import load_upstream, pretrain

    fs = spcfg.spectrogram.fs
    pc = spcfg.pretrain
    channels = common.require(run.config, "windows.channels")
    try:
        if mode == "windows":
            data = from_window_set(store, "synthetic", channels=channels, fs=fs)
        else:
            data = from_recordings(store, channels, length=pc.window_length, overlap=pc.overlap, fs=fs,
                                   sources=["amass"])
    except ValueError as exc:
        raise DataError(f"SelfPAB pre-training data (selfpab.data={mode}): {exc} (shorter windows: "
                        "selfpab.pretrain.window_length=N; or selfpab.data=windows)") from None
    _check_time_masking(spcfg, min(int(data.X.shape[1]), pc.window_length))
    out = run.work / "checkpoints" / "selfpab"
    t0 = time.perf_counter()
    with _torch_threads():
        res = pretrain(data, spcfg, out, overwrite=True, provenance={"dataset": "synthetic (AMASS)", "data": mode})
    upstream = load_upstream(out)
    n_params = sum(p.numel() for p in upstream.encoder.parameters())
    info = {"model": "selfpab", "checkpoint": str(out / "upstream.pt"), "data": mode, "windows": len(data),
            "samples_per_window": int(data.X.shape[1]), "channels": list(data.channels), "steps": res.step,
            "train_loss": res.train_loss, "best_val_loss": res.best_val_loss, "frames_per_s": res.frames_per_s,
            "encoder_parameters": int(n_params), "seconds": time.perf_counter() - t0,
            "config": upstream.config.to_dict()}
    log.info("SelfPAB upstream: %d steps on %d synthetic windows, train loss %.4f", res.step, len(data),
             res.train_loss)
    return _SelfPAB(upstream, spcfg, out / "upstream.pt"), info


def _check_time_masking(spcfg, n_samples: int) -> int:
    """Time spans the alteration masks in a pre-training window of ``n_samples``; warns when there are none.

    ``floor(P_T * T / W_T)`` spans for T spectrogram frames (paper 002: 0.15, 3), so windows shorter than
    ``ceil(W_T / P_T)`` frames get frequency masking only.
    """
    sc, mc = spcfg.spectrogram, spcfg.masking
    frames = sc.n_frames(n_samples)
    spans = int(np.floor(mc.p_t * frames / mc.w_t + 1e-9))
    if spans == 0 and mc.p_t > 0:
        need = (int(np.ceil(mc.w_t / mc.p_t - 1e-9)) - 1) * sc.hop + sc.frame
        log.warning("SelfPAB pre-training windows of %d samples give %d spectrogram frames: no time span is "
                    "altered (floor(%g * %d / %d) = 0), only frequency bands; windows of >= %d samples "
                    "(selfpab.data=recordings, selfpab.pretrain.window_length) get time alteration",
                    n_samples, frames, mc.p_t, frames, mc.w_t, need)
    return spans


def _selfpab_windows(store: Path, target: str, ws, spcfg):
    """The target's window set as SelfPAB input (`AccData`, g), row for row the same windows as ``ws``."""
    from virtimu.selfpab.data import from_window_set

    try:
        acc = from_window_set(store, target, channels=ws.channels, fs=spcfg.spectrogram.fs)
    except ValueError as exc:
        raise DataError(f"{target} windows for SelfPAB: {exc}") from None
    if len(acc) != len(ws) or not (np.array_equal(acc.y, ws.y) and np.array_equal(acc.subject, ws.subject)):
        raise DataError(f"{target}: the SelfPAB view of window set {target!r} does not match its windows")
    return acc


def _test_subjects(cfg: dict, subjects: list[str], target: str) -> list[str] | None:
    wanted = (cfg.get("loso") or {}).get("test_subjects")
    if wanted is None:
        return None
    chosen = [str(s) for s in wanted if str(s) in subjects]
    if not chosen:
        raise ConfigError(f"loso.test_subjects {wanted}: none is a {target} subject ({subjects})")
    return chosen


def _loso(run, target: str, ws, acc, pre: dict[str, Any], seed: int, repeat: int, runlog: RunLog) -> None:
    cfg = run.config
    lcfg = cfg.get("loso") or {}
    subjects = sorted(set(ws.subject.tolist()))
    folds = loso(ws.subject, n_val_subjects=int(lcfg.get("n_val_subjects", 2)), seed=seed,
                 test_subjects=_test_subjects(cfg, subjects, target))
    classes = sorted(set(ws.y.tolist()))
    head_map = {c: ws.label_map[c] for c in classes}
    try:
        tcfg = TrainConfig.from_dict({**dict(common.require(cfg, "target_train")), "seed": seed})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"target_train: {exc}") from None
    ft = cfg.get("fine_tune") or {}
    base = cfg.get("baselines") or {}
    files = bool((cfg.get("outputs") or {}).get("per_run_files", True))
    for fold in folds:
        tr, va, te = fold.train, fold.val, fold.test
        if tr.size == 0:
            raise DataError(f"{target} LOSO fold {fold.test_subject}: no training subject left")
        X_val = ws.X[va] if va.size else None
        y_val = ws.y[va] if va.size else None
        fields = {"target": target, "fold": fold.test_subject, "repeat": repeat, "n_train": int(tr.size),
                  "val_subjects": ",".join(fold.val_subjects)}
        # synthetic pre-training -> target fine-tuning
        if "deepconvlstm" in pre:
            t0 = time.perf_counter()
            tl = TorchLearner.from_checkpoint(pre["deepconvlstm"], train_config=tcfg)
            tl.replace_head(len(classes), head_map)
            if ft.get("freeze_conv"):
                tl.freeze(first_k_conv=int(ft["freeze_conv"]))
            tl.fine_tune(ws.X[tr], ws.y[tr], seed=seed, X_val=X_val, y_val=y_val,
                         keep_normalisation=bool(ft.get("keep_normalisation", False)))
            _record(run, runlog, PRETRAINED, tl, ws, te, time.perf_counter() - t0, seed, files, **fields)
        if "selfpab" in pre:
            _selfpab_fold(run, runlog, pre["selfpab"], acc, tr, te, seed, files, **fields)
        # baseline: DeepConvLSTM on the target only
        if base.get("deepconvlstm", True):
            t0 = time.perf_counter()
            sc = TorchLearner("deepconvlstm", cfg.get("model_config") or None, tcfg)
            sc.fit(ws.X[tr], ws.y[tr], X_val=X_val, y_val=y_val, label_map=head_map, channels=ws.channels)
            _record(run, runlog, SCRATCH, sc, ws, te, time.perf_counter() - t0, seed, files, **fields)
        # baseline: XGBoost on window features
        xcfg = (base.get("xgb") or {})
        if xcfg:
            t0 = time.perf_counter()
            xgb = common.make_learner("xgb", xcfg.get(target) or {}, None, ws.fs, seed)
            xgb.fit(ws.X[tr], ws.y[tr], label_map=head_map, channels=ws.channels)
            _record(run, runlog, XGB, xgb, ws, te, time.perf_counter() - t0, seed, files, **fields)


def _selfpab_fold(run, runlog: RunLog, sp: _SelfPAB, acc, train, test, seed: int, files: bool, **fields) -> None:
    """SelfPAB downstream on one fold (`virtimu.selfpab.run.run_downstream`), logged like the other models."""
    from virtimu.evaluation.report import write_json
    from virtimu.selfpab.run import run_downstream

    run_id = f"{fields['target']}/{SELFPAB}/{fields['fold']}/rep{fields['repeat']}"
    out = run.runs_dir / run_id if files else None
    with _torch_threads():
        result = run_downstream(acc, train, test, sp.config, sp.upstream, out, name=f"loso-{fields['fold']}",
                                dataset=fields["target"], seed=seed, provenance={"upstream": str(sp.path)})
    result.model, result.split = SELFPAB, "loso"  # the pipeline's names (run_downstream: 'selfpab', 'loso-S')
    if out is not None:
        write_json(out / "metrics.json", result.to_dict())
    runlog.add(result, run_id=run_id, **fields)
    log.info("%s: accuracy %.2f %%, macro-F1 %.2f %% (n = %d)", run_id, 100 * result.metrics.accuracy,
             100 * result.metrics.macro_f1, result.metrics.n)


def _record(run, runlog, model, learner, ws, test, secs, seed, files, **fields) -> None:
    run_id = f"{fields['target']}/{model}/{fields['fold']}/rep{fields['repeat']}"
    common.record_run(run, runlog, run_id, model=model, dataset=fields["target"], split="loso", seed=seed,
                      y_true=ws.y[test], y_pred=learner.predict(ws.X[test]), label_map=ws.label_map,
                      train_seconds=secs, files=files, **fields)


def _plots(run, runlog: RunLog, targets: list[str]) -> dict[str, str]:
    """Macro-F1 per held-out subject and summed confusion matrices, per target."""
    out: dict[str, str] = {}
    for target in targets:
        entries = [(r, e) for r, e in runlog.entries if r.dataset == target]
        folds = list(dict.fromkeys(e["fold"] for _, e in entries))
        models = list(dict.fromkeys(r.model for r, _ in entries))
        if not folds:
            continue
        mean = np.full((len(models), len(folds)), np.nan)
        std = np.zeros_like(mean)
        for i, m in enumerate(models):
            for j, f in enumerate(folds):
                vals = [100 * r.metrics.macro_f1 for r, e in entries if r.model == m and e["fold"] == f]
                if vals:
                    mean[i, j], std[i, j] = np.mean(vals), np.std(vals)
        out[f"f1_per_subject_{target}"] = str(plot_metric_vs(
            np.arange(1, len(folds) + 1), mean, std, run.plots_dir / f"f1_per_subject_{target}.png", label=models,
            xlabel="held-out subject (" + ", ".join(f"{j + 1} = {f}" for j, f in enumerate(folds)) + ")",
            ylabel="macro-F1 (%)", title=f"{target}: leave-one-subject-out"))
        for m in models:
            cms = [(np.asarray(r.metrics.confusion_array), list(r.metrics.names)) for r, _ in entries if r.model == m]
            names = cms[0][1]
            total = sum(cm for cm, n in cms if n == names)
            out[f"confusion_{target}_{m}"] = str(plot_confusion(
                total, names, run.plots_dir / f"confusion_{target}_{m}.png", title=f"{m} on {target} (all folds)"))
    return out


def _report(run, rows, paper, plots, results, targets) -> str:
    stand_in = any(d.get("fixture") for d in run.provenance.get("data", {}).values())
    text = [f"# Synthetic → HARTH / HAR70+ ({'quick' if run.quick else 'full'} run)", ""]
    if stand_in:
        text += ["**Stand-in data.** At least one data set is generated stand-in data (`virtimu.datasets.fixtures`), "
                 "not AMASS / HARTH / HAR70+: the numbers show that the pipeline runs, not how transfer performs.", ""]
    ran = {(r["model"], r["dataset"]) for r in rows}
    ran |= {(PAPER_COUNTERPART[m], t) for m, t in ran if m in PAPER_COUNTERPART}
    pre = results["pretrain"]
    legend = []
    if "deepconvlstm" in pre:
        legend.append(f"`{PRETRAINED}` = DeepConvLSTM pre-trained on the synthetic windows (with their labels), "
                      "fine-tuned on the target.")
    if "selfpab" in pre:
        sp, up = pre["selfpab"], pre["selfpab"]["config"]["upstream"]
        legend.append(
            f"`{SELFPAB}` = SelfPAB transformer upstream (d_model {up['d_model']}, layers {up['n_layers']}, "
            f"{sp['encoder_parameters']:,} encoder parameters) pre-trained without labels by masked-spectrogram "
            f"reconstruction on {sp['windows']} synthetic windows of {sp['samples_per_window']} samples "
            f"({sp['steps']} steps, final training loss {sp['train_loss']:.3f}), then a downstream classifier "
            "trained on the target; paper 002's SelfPAB was pre-trained on 100k hours of real HUNT4 data with "
            "a 60 M-parameter upstream.")
    text += ["## Leave-one-subject-out results", "",
             "Ours: mean ± std over held-out subjects (and repeats), scored on the target's windows. Paper 002: "
             "mean over subjects (the paper's ± is a standard error, not printed here). " + " ".join(legend), "",
             results_table_markdown(rows, paper["table"], metrics=("macro_f1", "accuracy")), "",
             "## Paper 002 reference figures (no counterpart run here)", "",
             markdown_table(["model", "target", "macro-F1 (%)", "accuracy (%)", "source"],
                            [[m, t, v.get("macro_f1", "—"), v.get("accuracy", "—"), v.get("source", "")]
                             for (m, t), v in paper["table"].items() if t in targets and (m, t) not in ran
                             and m not in PAPER_COUNTERPART]), ""]
    counts = [["synthetic (AMASS, after filter)", len(results["synthetic_windows"]["class_counts"]),
               sum(results["synthetic_windows"]["class_counts"].values()), "—"]]
    for t in targets:
        counts.append([t, len(results[f"{t}_windows"]["class_counts"]), sum(results[f"{t}_windows"]["class_counts"].values()),
                       len(results[f"{t}_ingest"]["subjects"])])
    text += ["## Data", "", markdown_table(["windows", "classes", "count", "subjects"], counts), "",
             "Classes (windows): " + "; ".join(
                 f"{n}: " + ", ".join(f"{k} {v}" for k, v in results[f"{n}_windows"]["class_counts"].items())
                 for n in ["synthetic", *targets]) + ".", "",
             "## Figures", ""] + [f"- `{Path(p).relative_to(run.out)}`" for p in plots.values()] + [""]
    text += ["## Notes", "",
             "- Signals are in m/s² (virtimu is SI inside); HARTH's g differ by a constant factor that the models' "
             "per-channel normalisation removes.",
             "- XGBoost uses virtimu's hand-crafted + PSD features of each window, not the paper's 161 features; "
             "its hyper-parameters are the paper's per data set."]
    if "selfpab" in pre:
        text.append("- SelfPAB (`pretrain: selfpab`, settings in the `selfpab:` block, `virtimu.selfpab`): input "
                    "in g, log-magnitude spectrograms of 1 s frames every 0.5 s; its per-frame logits are averaged "
                    "into one label per window, so it is scored on the same windows as the other models (paper 002 "
                    "scores SelfPAB per sample). It trains on the training subjects only (no early stopping, the "
                    "validation subjects are unused).")
    text.append("")
    text.append(common.provenance_markdown(run))
    return "\n".join(text)


if __name__ == "__main__":
    raise SystemExit(main())
