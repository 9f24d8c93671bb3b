"""Model files: round trip, checksums, tampering and incompatibility are refused."""

import hashlib
import io
import json
import os
import stat

import numpy as np
import pytest

from dlcore.io import FORMAT_VERSION, ModelFileError, load_model, read_card, save_model
from dlcore.layers import Dense, Dropout, ReLU
from dlcore.model import Sequential


def make_model(dtype=np.float32):
    g = np.random.default_rng(0)
    return Sequential(
        [
            Dense(6, 5, None, rng=g, dtype=dtype),
            ReLU(),
            Dropout(0.7),
            Dense(5, 3, "softmax", init="xavier", rng=g, dtype=dtype),
        ],
        loss="categorical_cross_entropy",
    )


@pytest.fixture
def saved(tmp_path):
    model = make_model()
    npz, card = save_model(
        model,
        tmp_path / "tiny",
        classes=["a", "b", "c"],
        metrics={"train_accuracy": 0.9, "test_accuracy": 0.8},
        training_seconds=1.5,
        dataset="toy",
        input={"shape": [6]},
    )
    return model, npz, card


def rewrite_card(card_path, change, fix_checksum=True):
    """Edit a card; optionally recompute card_sha256 as a careless tool might."""
    from dlcore.io import _card_checksum

    card = json.loads(card_path.read_text())
    change(card)
    if fix_checksum:
        card["card_sha256"] = _card_checksum(card)
    card_path.write_text(json.dumps(card))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_gives_the_same_predictions(tmp_path, dtype):
    model = make_model(dtype)
    X = np.random.default_rng(1).standard_normal((6, 9))
    npz, card = save_model(model, tmp_path / "m.npz")
    assert (npz.name, card.name) == ("m.npz", "m.json")
    for path in (npz, card, tmp_path / "m"):
        loaded = load_model(path)
        assert repr(loaded) == repr(model) and loaded.dtype == dtype
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.npz"]  # no temp files


def test_files_get_ordinary_permissions(saved):
    _, npz, card = saved
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(npz.stat().st_mode) == stat.S_IMODE(card.stat().st_mode) == 0o666 & ~umask


def test_card_contents(saved):
    model, npz, card_path = saved
    card = read_card(card_path)
    assert card["format_version"] == FORMAT_VERSION and card["dtype"] == "float32"
    assert card["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    assert card["metrics"] == {"train_accuracy": 0.9, "test_accuracy": 0.8}
    assert card["classes"] == ["a", "b", "c"] and card["training_seconds"] == 1.5
    assert [layer["type"] for layer in card["architecture"]["layers"]] == [
        "Dense",
        "ReLU",
        "Dropout",
        "Dense",
    ]
    with np.load(npz, allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["layer0.W", "layer0.b", "layer3.W", "layer3.b"]
    assert load_model(npz).card == card


def test_a_flipped_byte_is_refused(saved):
    _, npz, _ = saved
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0x01
    npz.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its card: sha256"):
        load_model(npz)


def test_an_edited_card_is_refused(saved):
    _, _, card = saved
    rewrite_card(card, lambda c: c["metrics"].update(test_accuracy=0.99), fix_checksum=False)
    with pytest.raises(ModelFileError, match="modified after it was written"):
        load_model(card)


def test_replaced_weights_with_a_recomputed_card_checksum_are_refused(saved, tmp_path):
    _, npz, card = saved
    save_model(make_model(np.float64), tmp_path / "other")
    npz.write_bytes((tmp_path / "other.npz").read_bytes())
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(npz)
    sha = hashlib.sha256(npz.read_bytes()).hexdigest()
    rewrite_card(card, lambda c: c.update(sha256=sha))  # consistent checksums, wrong dtype
    with pytest.raises(
        ModelFileError,
        match=r"layer0.W is float64 \(5, 6\), the architecture "
        r"needs float32 \(5, 6\)",
    ):
        load_model(npz)


def test_incompatible_architecture_is_refused(saved):
    _, npz, card = saved
    rewrite_card(card, lambda c: c["architecture"]["layers"][0]["config"].update(n_out=4))
    with pytest.raises(ModelFileError, match=r"layer0.W is float32 \(5, 6\).*\(4, 6\)"):
        load_model(npz)
    rewrite_card(card, lambda c: c["architecture"]["layers"].append({"type": "Conv9D"}))
    with pytest.raises(ModelFileError, match="unknown layer type 'Conv9D'"):
        load_model(npz)


def test_future_format_and_foreign_json_are_refused(saved):
    _, npz, card = saved
    rewrite_card(card, lambda c: c.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="format_version 2; this dlcore"):
        load_model(npz)
    card.write_text('{"hello": "world"}')
    with pytest.raises(ModelFileError, match="is not a dlcore-model card"):
        load_model(npz)
    card.write_text("{not json")
    with pytest.raises(ModelFileError, match="not a readable JSON model card"):
        load_model(npz)


def test_weights_without_a_card_are_refused(saved):
    _, npz, card = saved
    card.unlink()
    with pytest.raises(ModelFileError, match="no model card"):
        load_model(npz)


def test_pickled_arrays_are_refused_even_with_matching_checksums(saved):
    _, npz, card = saved
    buffer = io.BytesIO()
    with np.load(npz) as arrays:
        contents = {key: arrays[key] for key in arrays.files}
    contents["layer0.W"] = np.array([{"evil": 1}], dtype=object)
    np.savez(buffer, **contents)
    npz.write_bytes(buffer.getvalue())
    sha = hashlib.sha256(buffer.getvalue()).hexdigest()
    rewrite_card(card, lambda c: c.update(sha256=sha))
    with pytest.raises(ModelFileError, match="not a valid weights file"):
        load_model(npz)


def test_weights_file_must_sit_beside_the_card(saved):
    _, npz, card = saved
    rewrite_card(card, lambda c: c.update(weights_file="../elsewhere.npz"))
    with pytest.raises(ModelFileError, match="plain file name"):
        load_model(card)
