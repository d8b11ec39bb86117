"""`edgeke train`'s toolkit side (training.train_data): bad input refused before training with the file named,
held-out splits, exit choice on validation, an ONNX teacher, images and signals end to end on real committed data."""
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.custom import exits, images, signals
from training.custom.errors import DataError
from training.custom.splits import split_groups
from training.onnx_reference import ALLOWED_OPS
from training.paths import REPO_ROOT
from training.train_data import main

NEU = REPO_ROOT / "data" / "neu-surface" / "test"
CWRU = REPO_ROOT / "data" / "cwru-bearing" / "test"


def neu_folder(tmp_path, classes=("crazing", "patches", "scratches"), per_class=None) -> Path:
    root = tmp_path / "neu"
    for name in classes:
        files = sorted((NEU / name).glob("*.jpg"))[:per_class]
        (root / name).mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, root / name / f.name)
    return root


def bad_input(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_a_class_with_too_few_images_is_refused_before_training(tmp_path, capsys):
    root = neu_folder(tmp_path, per_class=12)
    for f in sorted((root / "patches").iterdir())[3:]:
        f.unlink()
    err = bad_input([str(root), "--out", str(tmp_path / "m"), "--smoke"], capsys)
    assert "class 'patches' has 3 images; at least 4" in err
    assert not (tmp_path / "m").exists()


def test_unreadable_images_are_all_named(tmp_path, capsys):
    root = neu_folder(tmp_path, per_class=12)
    (root / "crazing" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "scratches" / "empty.png").write_bytes(b"")
    err = bad_input([str(root), "--out", str(tmp_path / "m"), "--smoke"], capsys)
    assert "2 unreadable file(s)" in err and "broken.jpg" in err and "empty.png" in err


def test_one_class_folder_is_not_a_task(tmp_path, capsys):
    root = neu_folder(tmp_path, classes=("crazing",), per_class=12)
    assert "at least 2 are needed" in bad_input([str(root), "--out", str(tmp_path / "m")], capsys)


def test_mixed_shape_recordings_are_refused_with_the_file(tmp_path, capsys):
    root = tmp_path / "sig"
    root.mkdir()
    rows = ["file,label"]
    for i in range(8):
        np.save(root / f"r{i}.npy", np.zeros((256, 2) if i == 5 else 256, dtype=np.float32))
        rows.append(f"r{i}.npy,{'a' if i % 2 else 'b'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    err = bad_input([str(root), "--out", str(tmp_path / "m")], capsys)
    assert "r5.npy: has shape [256, 2]; one channel per recording" in err


def test_splits_are_stratified_disjoint_and_keep_groups_whole():
    groups = {"a": [f"a{i}" for i in range(20)], "b": [f"b{i}" for i in range(10)]}
    parts = split_groups(groups, True, "x")
    assert not set(parts["train"]) & set(parts["validation"]) and not set(parts["train"]) & set(parts["test"])
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == sorted(groups["a"] + groups["b"])
    assert sum(g.startswith("a") for g in parts["test"]) == 4 and sum(g.startswith("b") for g in parts["test"]) == 2
    assert split_groups(groups, True, "x") == parts  # seeded: the same every time
    assert split_groups(groups, False, "x")["test"] == []


def test_exit_choice_follows_the_rules_on_validation():
    # cost grows; accuracy: unit 1 cheap and weak, unit 3 within 15% and better, unit 5 dominated by unit 4.
    c = [(1, .40), (5, .50), (10, .60), (30, .75), (40, .70), (60, .85), (100, .90)]
    candidates = [{"flops": f, "accuracy": a} for f, a in c]
    keep, notes = exits.choose(candidates, 3)
    assert keep[0] == 3 and keep[-1] == 7 and len(keep) == 3 and notes == []
    accuracies = [candidates[k - 1]["accuracy"] for k in keep]
    assert accuracies == sorted(accuracies) and candidates[keep[0] - 1]["flops"] <= 0.15 * 100
    assert 5 not in keep  # not on the front
    fixed, notes = exits.choose(candidates, fixed=[2, 5])
    assert fixed == [2, 5, 7] and notes == []
    worse = [{"flops": f, "accuracy": a} for f, a in [(1, .9), (50, .5), (100, .8)]]
    keep, notes = exits.choose(worse, 3)
    assert keep == [1, 3] and any("not better on validation" in n for n in notes)


def test_image_input_is_chosen_from_the_data(tmp_path):
    root = tmp_path / "img"
    for k, name in enumerate(("red", "grey")):
        (root / name).mkdir(parents=True)
        for i in range(5):
            size = (40 + 8 * i, 30 + 4 * i)
            pixels = np.full((size[1], size[0], 3), (200, 10 * i, 30) if name == "red" else 90 + i, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.{['bmp', 'tiff', 'png'][i % 3]}")
    data = images.load(root)
    c, h, w = data.input["shape"]
    assert c == 3 and h == w == 38  # colour somewhere; mixed sizes: a square of the median short side
    assert data.train.x.shape[1:] == (3, 38, 38)
    out = tmp_path / "test"
    images.write_test_folder(data.test_items, data.classes, out)
    written = sorted(p.suffix for p in out.rglob("*.*"))
    assert len(written) == 2 and set(written) <= {".png"}  # BMP and TIFF rewritten as PNG for the runtime


def test_smoke_on_real_images_writes_the_shipped_format_and_a_flow(tmp_path):
    out = tmp_path / "model"
    m = main([str(neu_folder(tmp_path)), "--out", str(out), "--smoke", "--size", "64"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(m))
    assert manifest["format"] == "edgeke-multi-exit/1" and manifest["classes"] == ["crazing", "patches", "scratches"]
    assert manifest["input"]["preprocessing"]["width"] == 64 and manifest["input"]["shape"] == [1, 64, 64]
    assert len(manifest["stages"]) == len(manifest["exits"]) >= 2
    for stage in manifest["stages"]:
        assert set(stage["ops"]) <= ALLOWED_OPS and (out / stage["file"]).exists()
    flops = [e["flops"] for e in manifest["exits"]]
    assert flops == sorted(flops)
    assert manifest["dataset"]["test"] == {"kind": "image-folder", "path": "test"}
    assert sum(1 for _ in (out / "test").rglob("*.jpg")) == 24
    assert (out / "REPORT.md").exists() and (out / "accuracy_vs_cost.png").exists()
    assert "How the student and its exits were chosen" in (out / "REPORT.md").read_text()
    flow = (out / "flow.yaml").read_text()
    assert "decode: image" in flow and f"path: {out}" in flow


def test_an_onnx_teacher_is_used_once_and_reported_when_weaker(tmp_path):
    # A classifier that always answers class 0: a third of the validation split, below any trained student.
    teacher = torch.nn.Sequential(torch.nn.Flatten(1), torch.nn.Linear(64 * 64, 3)).eval()
    with torch.no_grad():
        teacher[1].weight.zero_()
        teacher[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    path = tmp_path / "teacher.onnx"
    torch.onnx.export(teacher, torch.zeros(1, 1, 64, 64), str(path), opset_version=13, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    out = tmp_path / "model"
    m = main([str(neu_folder(tmp_path)), "--out", str(out), "--smoke", "--size", "64", "--teacher", str(path)])
    t = m["teacher"]
    assert t["source"] == str(path.resolve()) and t["flops"] is None and t["params"] == 64 * 64 * 3 + 3
    assert t["validationAccuracy"] == pytest.approx(1 / 3) and t["weakerThanStudent"] is True
    assert any("weaker than the student" in n for n in m["training"]["notes"])
    assert "weaker than the student" in (out / "REPORT.md").read_text()


def test_an_onnx_teacher_with_the_wrong_input_is_refused(tmp_path, capsys):
    teacher = torch.nn.Sequential(torch.nn.Flatten(1), torch.nn.Linear(32 * 32, 3)).eval()
    path = tmp_path / "teacher.onnx"
    torch.onnx.export(teacher, torch.zeros(1, 1, 32, 32), str(path), opset_version=13)
    err = bad_input([str(neu_folder(tmp_path, per_class=12)), "--out", str(tmp_path / "m"), "--smoke", "--size", "64",
                     "--teacher", str(path)], capsys)
    assert "teacher.onnx" in err and "set --size/--channels" in err


def test_signals_split_by_recording_end_to_end(tmp_path):
    """Real CWRU test segments, each cut into 4 recordings of 3 classes, written as .f32, .npy and .csv."""
    index = json.loads((CWRU / "index.json").read_text())
    root = tmp_path / "sig"
    root.mkdir()
    rows = ["file,label,group"]
    for s in index["segments"]:
        if s["class"] not in ("normal", "ball_21", "inner_race_21") or s["load_hp"] not in (0, 1):
            continue
        signal = np.fromfile(CWRU / s["file"], dtype="<f4")
        for piece, part in enumerate(np.array_split(signal, 4)):
            stem = f"{Path(s['file']).stem}_{piece}"
            kind = ["f32", "npy", "csv", "f32"][piece]
            if kind == "f32":
                part.astype("<f4").tofile(root / f"{stem}.f32")
            elif kind == "npy":
                np.save(root / f"{stem}.npy", part)
            else:
                np.savetxt(root / f"{stem}.csv", part[:, None], header="acceleration", comments="")
            rows.append(f"{stem}.{kind},{s['class']},{stem}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    data = signals.load(root, window=512, sample_rate=12000)
    sources = {part: {r.group for r in recs} for part, recs in (("test", data.test_recordings),)}
    assert data.train.x.shape[1:] == (1, 512)
    out = tmp_path / "model"
    m = main([str(root), "--out", str(out), "--smoke", "--window", "512", "--sample-rate", "12000"])
    assert m["task"] == "signal-classification" and m["input"]["preprocessing"]["windowLength"] == 512
    test_index = json.loads((out / "test" / "index.json").read_text())
    test_groups = {s["group"] for s in test_index["segments"]}
    assert test_groups == sources["test"] and len(test_groups) >= 3  # whole recordings, at least one per class
    assert "decode: json-values" in (out / "flow.yaml").read_text()


def test_minutes_bound_the_whole_run_and_the_output_is_complete(tmp_path):
    """18 s of budget on work the default epochs would take minutes for: the run ends on time with a full folder."""
    out = tmp_path / "model"
    started = time.time()
    m = main([str(neu_folder(tmp_path)), "--out", str(out), "--minutes", "0.3"])  # 200x200, 30+40 epochs by default
    took = time.time() - started
    assert m["training"]["minutes"] == 0.3
    assert m["teacher"]["epochs"] < 30 and m["training"]["epochs"] < 40  # the budget, not the defaults, decided
    # Bound: the budget plus what no phase can cut short on a busy machine (one training step per phase, export).
    assert took <= 18 + 25, took
    assert (out / "manifest.json").exists() and (out / "flow.yaml").exists()
    assert all((out / stage["file"]).exists() for stage in m["stages"])


def test_the_search_tries_both_last_heads_and_the_twins_train_equal_epochs(tmp_path, capsys):
    """The cheapest size with a pooled and a dense last head, the same epochs planned each; larger sizes use the
    better on validation; the no-KD twin gets its KD run's epochs, and the longer run is what the rest of the time
    buys. (The manifest records the epochs each run ran: on a busy machine a deadline can cut one short.)"""
    out = tmp_path / "model"
    m = main([str(neu_folder(tmp_path, per_class=12)), "--out", str(out), "--size", "32", "--minutes", "0.4"])
    log = capsys.readouterr().out
    search = m["training"]["search"]
    assert [s["student"] for s in search[:2]] == ["width 8, depth 1", "width 8, depth 1, dense last head"]
    planned = [int(e) for e in re.findall(r"search: student \d+/\d+ \(width 8, depth 1[^)]*?, (\d+) epoch", log)]
    assert len(planned) == 2 and planned[0] == planned[1]
    assert all(1 <= s["epochs"] <= planned[0] for s in search[:2])
    rank = lambda s: (s["candidateValidationAccuracy"][-1], np.mean(s["candidateValidationAccuracy"]))
    dense = rank(search[1]) > rank(search[0])  # a tie keeps global pooling
    assert all(s["student"].endswith("dense last head") == dense for s in search[2:])
    report = (out / "REPORT.md").read_text()
    twins = re.search(r"The twins: (.+?), (\d+) epoch\(s\) each, the same batch order", report)
    assert twins and {"student": twins[1], "epochs": int(twins[2])} in [
        {"student": s["student"], "epochs": s["epochs"]} for s in search]  # the kept size's KD run: as many epochs
    longer = re.search(r"longer run: the kept student \(.+\) for (\d+) epoch", log)
    assert longer is None or int(longer[1]) > int(twins[2])  # kept size again only for more epochs


def test_exits_and_max_mflops_override_the_choice(tmp_path, capsys):
    root = neu_folder(tmp_path, per_class=12)
    m = main([str(root), "--out", str(tmp_path / "m"), "--smoke", "--size", "64", "--exits", "1,3"])
    units = m["training"]["keptUnits"]
    assert units[:2] == [1, 3] and len(units) == len(m["exits"]) == 3
    err = bad_input([str(root), "--out", str(tmp_path / "m2"), "--smoke", "--size", "64", "--max-mflops", "0.001"],
                    capsys)
    assert "no student fits 0.001 MFLOPs; the cheapest costs" in err
    err = bad_input([str(root), "--out", str(tmp_path / "m3"), "--smoke", "--size", "64", "--exits", "2,99"], capsys)
    assert "--exits" in err and "99" in err


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_wav_reads_without_scipy_and_stereo_is_refused(tmp_path, width):
    import wave

    signal = np.fromfile(CWRU / json.loads((CWRU / "index.json").read_text())["segments"][0]["file"], dtype="<f4")[:4000]
    scaled = signal / np.abs(signal).max() * 0.9
    full = 2 ** (8 * width - 1)
    ints = np.round(scaled * (full - 1)).astype(np.int64)
    raw = (ints + 128).astype(np.uint8).tobytes() if width == 1 else \
        b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints)
    path = tmp_path / "r.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(width), w.setframerate(12000)
        w.writeframes(raw)
    samples, rate = signals.read_signal(path)
    assert rate == 12000 and len(samples) == 4000
    assert np.abs(samples - scaled).max() <= 1.5 / full + 1e-7
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(12000)
        w.writeframes(b"\0" * 400)
    with pytest.raises(DataError, match="s.wav: has shape \\[100, 2\\]"):
        signals.read_signal(tmp_path / "s.wav")


def test_a_fixed_test_folder_is_the_test_split(tmp_path, capsys):
    root, test = tmp_path / "data", tmp_path / "fixed-test"
    for name in ("crazing", "patches", "scratches"):
        files = sorted((NEU / name).glob("*.jpg"))
        for folder, chosen in ((root, files[:30]), (test, files[30:40])):
            (folder / name).mkdir(parents=True)
            for f in chosen:
                shutil.copyfile(f, folder / name / f.name)
    m = main([str(root), "--out", str(tmp_path / "m"), "--smoke", "--size", "64", "--test", str(test)])
    written = sorted(p.name for p in (tmp_path / "m" / "test").rglob("*.jpg"))
    assert written == sorted(p.name for p in test.rglob("*.jpg")) and len(written) == 30
    assert str(test.resolve()) in m["dataset"]["split"]
    shutil.rmtree(test / "patches")
    err = bad_input([str(root), "--out", str(tmp_path / "m2"), "--smoke", "--test", str(test)], capsys)
    assert "fixed-test: its class folders differ from the training data's: missing ['patches']" in err


def write_idx(path: Path, array: np.ndarray):
    """An IDX file (unsigned bytes), gzip-compressed when the name ends in .gz."""
    import gzip
    raw = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def test_an_idx_folder_is_an_image_dataset_with_its_test_pair(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3, dtype=np.uint8), 8)
    pixels = (rng.integers(0, 60, (24, 12, 10)) + 60 * labels[:, None, None]).astype(np.uint8)
    root = tmp_path / "idx"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte.gz", pixels)
    write_idx(root / "train-labels-idx1-ubyte.gz", labels)
    write_idx(root / "t10k-images-idx3-ubyte", pixels[::2])  # the test pair may be uncompressed
    write_idx(root / "t10k-labels-idx1-ubyte", labels[::2])
    (root / "classes.txt").write_text("dark\nmid\nbright\n")
    data = images.load(root)
    assert data.classes == ["dark", "mid", "bright"]
    assert data.input["shape"] == [1, 12, 10]  # rows x cols, no resize
    assert len(data.test) == 12 and data.test.y.tolist() == labels[::2].tolist()  # the t10k pair is the test split
    assert len(data.train) + len(data.validation) == 24
    # Pixels reach the tensors unchanged (up to the normalisation): the first test image is pixels[0].
    mean, std = data.input["preprocessing"]["mean"][0], data.input["preprocessing"]["std"][0]
    np.testing.assert_allclose(data.test.x[0, 0].numpy() * std + mean, pixels[0] / 255.0, atol=1e-5)
    out = tmp_path / "test-folder"
    assert images.write_test_folder(data.test_items, data.classes, out) == 12
    written = sorted((out / "dark").glob("*.png"))
    assert len(written) == 4 and np.array_equal(np.asarray(Image.open(written[0])), pixels[0])


def test_a_broken_idx_file_is_refused_with_its_name(tmp_path, capsys):
    root = tmp_path / "idx"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte", np.zeros((20, 8, 8), np.uint8))
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(19, np.uint8))
    err = bad_input([str(root), "--out", str(tmp_path / "m")], capsys)
    assert "train-labels-idx1-ubyte" in err and "expected [20] labels" in err
    (root / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (20).to_bytes(4, "big") + b"\x00" * 20)
    assert "train-images-idx3-ubyte" in bad_input([str(root), "--out", str(tmp_path / "m")], capsys)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (FASHION / "train-labels-idx1-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed")
def test_smoke_on_real_fashion_mnist_idx_files(tmp_path):
    """The Debian package's own files, read as they ship (gzip IDX), through the generic command."""
    out = tmp_path / "model"
    m = main([str(FASHION), "--out", str(out), "--smoke"])
    assert m["classes"] == [str(i) for i in range(10)] and m["input"]["shape"] == [1, 28, 28]
    assert "t10k-images-idx3-ubyte.gz" in m["dataset"]["split"]
    assert sum(1 for _ in (out / "test").rglob("*.png")) == 100  # smoke: 10 test images per class
    assert m["exits"][-1]["testAccuracy"] > 0.3  # 10 classes: chance is 0.1


CWRU_SHARED = Path(__import__("training.paths", fromlist=["datasets_root"]).datasets_root()) / "cwru-bearing"


@pytest.mark.skipif(not (CWRU_SHARED / "index.json").exists(), reason="shared CWRU recordings not present")
@pytest.mark.parametrize("protocol", ["by-time", "cross-load"])
def test_cwru_folders_for_the_generic_command(tmp_path, protocol):
    """training.prepare_cwru: the shared recordings as recordings + labels.csv, split so nothing tested is trained on,
    and readable by the generic signals loader (every class with the 3 groups a fixed test folder needs)."""
    from training.prepare_cwru import prepare
    counts = prepare(tmp_path, protocol, test_load=3, chunks=5)
    train_rows = signals.read_labels(tmp_path / "train" / "labels.csv")
    test_rows = signals.read_labels(tmp_path / "test" / "labels.csv")
    assert {label for _, label, _ in train_rows} == {label for _, label, _ in test_rows} and len(
        {label for _, label, _ in train_rows}) == 10
    index = {Path(m["file"]).stem: m for m in json.loads((CWRU_SHARED / "index.json").read_text())["recordings"]}
    tested = {Path(f).stem for f, _, _ in test_rows}
    trained = {g.split("#")[0] for _, _, g in train_rows}
    if protocol == "cross-load":
        assert counts == {"train": 9 * 3 * 5 + 5, "test": 9 + 1}
        assert all(index[s]["load_hp"] == 3 for s in tested if index[s]["fault"] != "normal")
        assert not any(index[s]["load_hp"] == 3 for s in trained if index[s]["fault"] != "normal")
    else:
        assert counts == {"train": 37 * 5, "test": 37} and tested == trained
    # By-time parts: the normal recording (48 kHz) gives 12 kHz pieces that together cover its first 80%.
    normal = next(s for s in index if index[s]["fault"] == "normal")
    pieces = sum(len(np.fromfile(tmp_path / "train" / f, "<f4")) for f, _, g in train_rows if g.startswith(normal))
    assert abs(pieces - 0.8 * index[normal]["samples"] / 4) <= 5
    data = signals.load(tmp_path / "train", test_root=tmp_path / "test", window=2048, sample_rate=12000)
    assert len(data.test) > 0 and len(data.validation) > 0 and data.classes[6] == "normal"


def test_under_a_deadline_the_learning_rate_anneals_by_the_deadline_even_when_steps_lag():
    from training.trainer import TimedOneCycle
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05, momentum=0.9)
    rate = lambda: optimizer.param_groups[0]["lr"]
    now = time.time()
    on_time = TimedOneCycle(optimizer, 0.05, 100, 0.25, now, now + 3600)  # steps lead: the usual one-cycle
    seen = []
    for _ in range(100):
        on_time.step()
        seen.append(rate())
    assert abs(max(seen) - 0.05) < 1e-3 and seen.index(max(seen)) in range(22, 28) and seen[-1] < 1e-6
    late = TimedOneCycle(optimizer, 0.05, 100, 0.25, now - 3600, now - 1)  # time is up after 1 of 100 steps
    late.step()
    assert rate() < 1e-6


@pytest.mark.skipif(not (CWRU_SHARED / "index.json").exists(), reason="shared CWRU recordings not present")
def test_cwru_cross_load_can_validate_on_a_held_out_training_load(tmp_path):
    from training.prepare_cwru import prepare
    prepare(tmp_path, "cross-load", test_load=3, chunks=5, group_by="load")
    rows = signals.read_labels(tmp_path / "train" / "labels.csv")
    groups = {}
    for _, label, group in rows:
        groups.setdefault(label, set()).add(group)
    assert groups.pop("normal") == {f"1797_Normal#{k}" for k in range(5)}  # one load: time pieces
    assert all(g == {f"{label}@{hp}hp" for hp in (0, 1, 2)} for label, g in groups.items())
    data = signals.load(tmp_path / "train", test_root=tmp_path / "test", window=2048, sample_rate=12000)
    assert len(data.validation) > 0
